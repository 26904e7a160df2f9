"""Exceptions acrlib raises to its callers."""

from __future__ import annotations


class SignInRequired(RuntimeError):
    """No Azure credential could produce a token."""

    HOW = ("sign in with `az login` (then pass credential=AzureCliCredential() or rely on the default), set "
           "AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET for a service principal, or run where a "
           "managed identity is assigned")

    def __init__(self, detail: str = ""):
        message = f"No Azure credential is available: {self.HOW}."
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class RequestFailed(Exception):
    """A request to Azure failed: the HTTP status (None when nothing answered), the service's error code and
    its message. The collector turns each one into a row of the errors table."""

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(f"{code} ({status}): {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
