"""azure-core credentials whose tokens the emulator accepts (it shares their signing secret)."""

from __future__ import annotations

from azure.core.credentials import AccessToken, AccessTokenInfo

from .server import tokens


class EmulatorCredential:
    """A synchronous ``TokenCredential``: mints an Entra-ID-shaped JWT for the requested scope."""

    def __init__(self, secret: str, tenant_id: str, principal: str = "acrlib-emulator-user"):
        self._secret = secret
        self.tenant_id = tenant_id
        self.principal = principal
        self.token_requests = 0

    def __repr__(self) -> str:  # never show the secret
        return f"{type(self).__name__}(tenant_id={self.tenant_id!r}, principal={self.principal!r})"

    def _mint(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        if not scopes:
            raise ValueError("at least one scope is required")
        self.token_requests += 1
        return tokens.entra_token(self._secret, self.tenant_id, self.principal, scopes[0])

    def get_token(self, *scopes: str, claims=None, tenant_id=None, enable_cae=False, **kwargs) -> AccessToken:
        token, exp = self._mint(scopes)
        return AccessToken(token, exp)

    def get_token_info(self, *scopes: str, options=None) -> AccessTokenInfo:
        token, exp = self._mint(scopes)
        return AccessTokenInfo(token, exp)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        pass


class AsyncEmulatorCredential(EmulatorCredential):
    """The ``AsyncTokenCredential`` twin of :class:`EmulatorCredential`."""

    async def get_token(self, *scopes: str, claims=None, tenant_id=None, enable_cae=False, **kwargs) -> AccessToken:
        token, exp = self._mint(scopes)
        return AccessToken(token, exp)

    async def get_token_info(self, *scopes: str, options=None) -> AccessTokenInfo:
        token, exp = self._mint(scopes)
        return AccessTokenInfo(token, exp)

    async def close(self) -> None:
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args) -> None:
        pass
