"""Every exception acrlib raises on purpose, in one hierarchy.

::

    AcrlibError                  anything acrlib raises on purpose (bad input is a plain ValueError)
    ├── SignInRequired           no Azure credential could produce a token
    ├── RequestFailed            a service refused or could not be reached: .status, .code, .message, .service
    │   ├── ArmError             Resource Graph or another ARM endpoint
    │   └── RegistryError        a registry's data plane
    │       └── TokenError       a registry's token service (/oauth2/exchange, /oauth2/token)
    ├── SnapshotError            a snapshot folder that cannot be read as one
    └── ReportError              a cell of the report notebook failed

A failure during a collection is not raised: it becomes a row of the ``errors`` table (``RequestFailed``
carries what that row needs), and its registry ends ``partial`` or ``failed``. Bad arguments raise
``ValueError`` naming the problem, before any request is sent.
"""

from __future__ import annotations


class AcrlibError(Exception):
    """Base of every exception acrlib raises on purpose."""


class SignInRequired(AcrlibError):
    """No Azure credential could produce a token."""

    HOW = ("sign in with `az login` (then pass credential=AzureCliCredential() or rely on the default), set "
           "AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET for a service principal, or run where a "
           "managed identity is assigned")

    def __init__(self, detail: str = ""):
        message = f"No Azure credential is available: {self.HOW}."
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class RequestFailed(AcrlibError):
    """A request to a service failed: the HTTP status (None when nothing answered), the service's error code
    and its message. ``service`` names who answered, for messages ("Resource Graph", "registry", ...)."""

    service = "Azure"

    def __init__(self, status: int | None, code: str, message: str):
        super().__init__(f"{code} ({status}): {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ArmError(RequestFailed):
    """Resource Graph or another ARM endpoint refused, could not be reached, or answered nonsense."""

    service = "ARM"


class RegistryError(RequestFailed):
    """A registry's data plane refused or could not be reached."""

    service = "registry"


class TokenError(RegistryError):
    """A registry's token service refused."""

    service = "registry token service"


class SnapshotError(AcrlibError):
    """A folder that is not a complete, consistent acrlib snapshot."""


class ReportError(AcrlibError):
    """A cell of the report failed; the executed notebook shows where."""
