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
