"""Every exception acrlib raises on purpose, in one hierarchy.

::

    AcrlibError                  anything acrlib raises on purpose (bad input is a plain ValueError)
    ├── SignInRequired           no Azure credential could produce a token
    ├── RequestFailed            a service refused, could not be reached or answered nonsense: .status, .code,
    │   │                        .message (secrets redacted), .service
    │   ├── ArmError             Resource Graph or another ARM endpoint
    │   └── RegistryError        a registry's data plane
    │       └── TokenError       a registry's token service (/oauth2/exchange, /oauth2/token)
    ├── SnapshotError            a snapshot folder that cannot be read as one
    ├── BlobStorageError         a storage account (snapshots, history, published reports) refused or failed:
    │                            one line naming the URL and the missing permission
    └── ReportError              a cell of the report notebook failed

A failure during a collection is not raised: it becomes a row of the ``errors`` table (``RequestFailed``
carries what that row needs), and its registry ends ``partial`` or ``failed``. Bad arguments raise
``ValueError`` naming the problem, before any request is sent.
"""

from __future__ import annotations

import re

# What a token or secret looks like in free text a server sends back (an echoed header, a form, a JSON body).
_SECRETS = (
    (re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), "<redacted token>"),  # a JWT
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{8,}"), r"\1 <redacted>"),
    (re.compile(r"(?i)\b(access_token|refresh_token|id_token|client_secret|password|sig|token|accountkey"
                r"|sharedaccesssignature)"
                r"(\"?\s*[:=]\s*\"?)[^\"'&\s,;}]{6,}"), r"\1\2<redacted>"),
)


# Every token and secret value acrlib itself holds (Entra access tokens, ACR refresh and access tokens, storage
# keys and SAS of a connection string), whatever its shape: an opaque token is not a JWT, and a server that
# echoes it back is caught by value. The newest are kept, a bounded number; values too short to be secrets are not.
MAX_SECRETS = 4096
MIN_SECRET_CHARS = 12
_held: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first


def hold(secret: str | None) -> None:
    """Remember ``secret`` (and its URL-encoded forms) so that :func:`redact` removes it from any text."""
    from urllib.parse import quote, quote_plus

    if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
        return
    for form in dict.fromkeys((secret, quote(secret, safe=""), quote_plus(secret))):
        _held.pop(form, None)
        _held[form] = None
    while len(_held) > MAX_SECRETS:
        del _held[next(iter(_held))]


def redact(text: str) -> str:
    """``text`` without any token or secret value acrlib holds (:func:`hold`), and with anything that looks like
    a bearer token, a JWT or a secret form field replaced: server messages can echo what they were sent, and
    they end up in tables, snapshots, logs and reports. The one place redaction happens."""
    for secret in sorted((s for s in list(_held) if s in text), key=len, reverse=True):
        text = text.replace(secret, "<redacted secret>")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


MESSAGE_CHARS = 1000  # an errors row's message is cut to this many characters


def error_row(stage: str, code: str, message: str, *, registry: str | None = None, repository: str | None = None,
              status: int | None = None) -> dict:
    """One row of the ``errors`` table: secrets a server echoed removed, the message cut to ``MESSAGE_CHARS``,
    stamped now. Every stage of a collection records its failures through it."""
    import datetime as dt

    return {"registry": registry, "repository": repository, "stage": stage, "http_status": status,
            "code": redact(str(code)), "message": redact(str(message))[:MESSAGE_CHARS], "at": dt.datetime.now(dt.UTC)}


class AcrlibError(Exception):
    """Base of every exception acrlib raises on purpose."""


class SignInRequired(AcrlibError):
    """No Azure credential could produce a token."""

    HOW = ("sign in with `az login` (then pass credential=AzureCliCredential() or rely on the default), set "
           "AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET for a service principal, or run where a "
           "managed identity is assigned")
    HOW_CLI = ("sign in with `az login`, set AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET for a service "
               "principal, or run where a managed identity is assigned; then run the command again")
    LEAD = "No Azure credential is available"

    def __init__(self, detail: str = ""):
        whole = f"{self.LEAD}: {self.HOW}."
        if detail.startswith(whole):  # raised again from a kernel's message: once is enough
            detail = detail[len(whole):].strip().removeprefix("(").removesuffix(")")
        self.detail = detail
        message = f"{self.LEAD}: {self.HOW}."
        if detail:
            message += f" ({detail})"
        super().__init__(message)

    def cli_message(self) -> str:
        """The same, for a person at the command line (no Python to pass a credential to)."""
        return f"{self.LEAD}: {self.HOW_CLI}." + (f" ({self.detail})" if self.detail else "")


class RequestFailed(AcrlibError):
    """A request to a service failed: the HTTP status (None when nothing answered), the service's error code
    and its message. ``service`` names who answered, for messages ("Resource Graph", "registry", ...)."""

    service = "Azure"

    def __init__(self, status: int | None, code: str, message: str):
        code, message = redact(str(code)), redact(str(message))
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


class SnapshotUnwritable(AcrlibError):
    """A streaming collection's ``out`` cannot be written: raised before any registry is read, so nothing
    collected is lost. ``cause`` is the refusal (a :class:`BlobStorageError`, or an ``OSError``)."""

    def __init__(self, message: str, cause: Exception):
        super().__init__(message)
        self.cause = cause


class ReportError(AcrlibError):
    """The report failed. Its setup (collection, the plan) failed: no HTML was written, and the executed
    notebook shows where. Or some sections failed: ``html`` is the report, written with an error box in each
    of those ``sections`` (their names), and the rest complete."""

    def __init__(self, message: str, *, html=None, sections: tuple[str, ...] = ()):
        super().__init__(message)
        self.html = html
        self.sections = tuple(sections)


class BlobStorageError(AcrlibError):
    """A storage location (``az://``, ``abfs://``) could not be read or written: the message is one line naming
    the URL, what was being done and, where Azure says so, the permission that is missing."""
