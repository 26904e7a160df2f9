"""Azure identities, shared by the collection and the storage of snapshots: the default credential, and a
synchronous azure-core ``TokenCredential`` presented as an async one. Every Entra token acrlib is given passes
through :class:`AsyncCredential`, which hands it to :func:`acrlib.errors.hold` for redaction."""

from __future__ import annotations

import asyncio
import inspect

from .errors import hold


def default_credential(authority: str | None = None):
    """``DefaultAzureCredential`` (environment, workload identity, managed identity, Azure CLI, ...)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(authority=authority) if authority else DefaultAzureCredential()


class AsyncCredential:
    """Presents a synchronous azure-core ``TokenCredential`` as an async one (token calls run in a thread);
    async credentials pass through."""

    def __init__(self, credential):
        self._credential = credential
        self._async = inspect.iscoroutinefunction(getattr(credential, "get_token", None))

    async def get_token(self, *scopes, **kwargs):
        if self._async:
            token = await self._credential.get_token(*scopes, **kwargs)
        else:
            token = await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)
        hold(getattr(token, "token", None))  # whatever its shape, it never shows in a message
        return token

    async def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args):
        pass
