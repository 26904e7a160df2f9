"""Where snapshots and reports are kept: a local folder, or a folder in Azure Blob Storage / ADLS Gen2.

A location is named by one string, parsed once by :meth:`Location.of` into a :class:`Location`:

- a local path (``history/``, ``~/acr``);
- ``az://CONTAINER/PATH``: the account from ``AZURE_STORAGE_ACCOUNT_NAME`` (or the connection string);
- ``abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH`` (also ``abfss://``, and ``...blob.core...`` hosts):
  the account, and its cloud, from the host.

Remote locations are read and written with adlfs (fsspec's Azure Blob file system, kept by the fsspec project,
on Microsoft's azure-storage-blob), signed in with ``AZURE_STORAGE_CONNECTION_STRING`` when it is set (how the
Azurite emulator is reached), else with the Azure identity of the collection (``DefaultAzureCredential`` unless
one is passed). An account with a hierarchical namespace (ADLS Gen2) is read and written through its Blob
endpoint, as adlfs does.

Every failure of a remote location becomes one :class:`~acrlib.errors.BlobStorageError` line naming the URL, what
was being done and, where Azure says so, the permission that is missing. No key, SAS or token is ever part of
a URL acrlib shows: ``str(location)`` is the URL as the user wrote it, and a URL carrying a query is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BlobStorageError, hold

SCHEMES = ("az://", "abfs://", "abfss://")
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_ENV = "AZURE_STORAGE_ACCOUNT_NAME"
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$|^\$web$|^\$root$")
# abfs host: ACCOUNT.dfs.core.windows.net or ACCOUNT.blob.core.windows.net, or another cloud's own suffix; nothing
# else receives a token (an emulator is reached through a connection string's BlobEndpoint instead)
STORAGE_SUFFIXES = ("core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net")
_HOST = re.compile(r"^(?P<account>[a-z0-9]+)\.(?:dfs|blob)\.(?P<suffix>"
                   + "|".join(re.escape(s) for s in STORAGE_SUFFIXES) + r")$")
ROLE = "Storage Blob Data Contributor"


def is_url(text) -> bool:
    """True for ``az://``, ``abfs://`` and ``abfss://`` strings."""
    return isinstance(text, str) and text.lower().startswith(SCHEMES)


@dataclass(frozen=True)
class Location:
    """A folder, local (``fs`` is None, ``path`` a local path) or in Blob Storage (``fs`` an adlfs file system,
    ``path`` ``CONTAINER/PATH``); ``url`` is how it is shown."""

    url: str
    path: str
    account: str | None = None
    fs: object | None = field(default=None, compare=False, repr=False)

    @property
    def remote(self) -> bool:
        return self.fs is not None

    @property
    def container(self) -> str | None:
        return self.path.split("/", 1)[0] if self.remote else None

    @classmethod
    def of(cls, target, *, credential=None) -> Location:
        """The location ``target`` names: a local folder path, or an ``az://`` / ``abfs://`` URL (a
        ``Location`` is returned as is). ``ValueError`` naming the problem for a malformed URL, before any
        request; ``credential`` signs in to Blob Storage (default: the default Azure credential)."""
        return _parse(target, credential=credential)

    def __str__(self) -> str:
        return self.url

    def __truediv__(self, name: str) -> Location:
        if not self.remote:
            return Location(str(Path(self.path) / name), str(Path(self.path) / name))
        return Location(f"{self.url.rstrip('/')}/{name}", f"{self.path.rstrip('/')}/{name}", self.account, self.fs)

    @property
    def parent(self) -> Location:
        if not self.remote:
            parent = str(Path(self.path).parent)
            return Location(parent, parent)
        head = self.path.rstrip("/").rsplit("/", 1)[0]
        url_head = self.url.rstrip("/").rsplit("/", 1)[0]
        return Location(url_head, head, self.account, self.fs)

    def address(self) -> str:
        """The HTTPS address of this blob (or, for a local location, its path)."""
        if not self.remote:
            return self.path
        from urllib.parse import quote, urlsplit

        base = getattr(self.fs, "account_url", None) or self.fs.service_client.url
        parts = urlsplit(base)  # a connection string's SAS rides in the service URL's query: never shown
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/{quote(self.path, safe='/$')}"

    def public(self) -> Path | str:
        """What acrlib's API hands back for this location: a ``Path`` when local, else the URL."""
        return Path(self.path) if not self.remote else self.url

    # --- operations (remote ones translate every failure into one BlobStorageError line) ---

    def _call(self, doing: str, fn, *args, **kwargs):
        try:
            with warnings.catch_warnings():
                # adlfs warns (and goes on) when it cannot read a container's properties; acrlib reports the
                # failure itself. Scoped to acrlib's own calls: the process's warning filters stay the user's.
                warnings.filterwarnings("ignore", message="Failed to fetch container properties", category=UserWarning)
                return fn(*args, **kwargs)
        except (FileNotFoundError, BlobStorageError):
            raise
        except Exception as e:  # adlfs passes azure-core's errors through, or wraps them in OSError
            raise explain(e, self, doing) from None

    def exists(self) -> bool:
        if not self.remote:
            return Path(self.path).exists()
        return self._call("read", self.fs.exists, self.path)

    def is_file(self) -> bool:
        if not self.remote:
            return Path(self.path).is_file()
        return self._call("read", self.fs.isfile, self.path)

    def children(self) -> list[tuple[str, bool]]:
        """The names directly inside this folder, each with whether it is a folder (an empty list when there
        is no such folder)."""
        if not self.remote:
            path = Path(self.path)
            return [(p.name, p.is_dir()) for p in path.iterdir()] if path.is_dir() else []
        try:
            self.fs.invalidate_cache(self.path)  # adlfs may answer from a listing cached before this run's writes
            entries = self._call("list", self.fs.ls, self.path, detail=True, refresh=True)
        except FileNotFoundError:
            self.check_container()
            return []
        return [(e["name"].rstrip("/").rsplit("/", 1)[-1], e.get("type") == "directory") for e in entries]

    def check_container(self) -> None:
        """``BlobStorageError`` when this location's container does not exist (listing an absent folder in an absent
        container is otherwise just empty)."""
        if self.remote and not self._call("read", self.fs.exists, self.container):
            raise BlobStorageError(f"{self.url}: {_no_container(self)}")

    def read_bytes(self) -> bytes:
        if not self.remote:
            return Path(self.path).read_bytes()
        return self._call("read", self.fs.cat_file, self.path)

    def write_bytes(self, data: bytes, content_type: str | None = None) -> None:
        if not self.remote:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path).write_bytes(data)
            return
        kwargs = {}
        if content_type:
            from azure.storage.blob import ContentSettings

            kwargs["content_settings"] = ContentSettings(content_type=content_type)
        self._call("write", self.fs.pipe_file, self.path, data, overwrite=True, **kwargs)

    def modified(self) -> float | None:
        """When the file (or, for a folder, its newest file) was last written, as a POSIX time."""
        if not self.remote:
            try:
                return Path(self.path).stat().st_mtime
            except FileNotFoundError:
                return None
        try:
            files = self._call("read", self.fs.find, self.path, detail=True)
        except FileNotFoundError:
            return None
        times = [info["last_modified"].timestamp() for info in files.values() if info.get("last_modified")]
        return max(times) if times else None

    def remove(self) -> None:
        """This file or folder and everything under it (nothing when absent)."""
        if not self.remote:
            import shutil

            path = Path(self.path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            return
        # file by file, each named exactly and under this prefix: fsspec's rm() expands glob characters, and a
        # planted name ('snapshot=**Z') must never reach beyond itself
        prefix = self.path.rstrip("/")
        try:
            files = self._call("list", self.fs.find, prefix)
        except FileNotFoundError:
            return
        for name in files:
            if name == prefix or name.startswith(prefix + "/"):
                with contextlib.suppress(FileNotFoundError):
                    self._call("write", self.fs.rm_file, name)


def _parse(target, *, credential=None) -> Location:
    """:meth:`Location.of`."""
    if isinstance(target, Location):
        return target
    if isinstance(target, os.PathLike) or (isinstance(target, str) and not is_url(target)):
        if isinstance(target, str) and "://" in target:
            raise ValueError(f"{target!r}: unknown scheme; locations are local folders, az://CONTAINER/PATH or "
                             "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH")
        path = str(Path(target).expanduser().absolute())
        return Location(path, path)
    if not isinstance(target, str):
        raise ValueError(f"a location is a folder path or an az:// or abfs:// URL, not {type(target).__name__}")
    if "?" in target or "#" in target:
        raise ValueError(f"{target.split('?')[0]}: a storage URL must not carry a query (a SAS token would end up in "
                         f"logs and reports); set {CONNECTION_STRING_ENV} or use an Azure identity instead")
    scheme, rest = target.split("://", 1)
    authority, _, path = rest.partition("/")
    path = path.strip("/")
    from urllib.parse import unquote

    if "\\" in path or any(unquote(part) in (".", "..") for part in path.split("/")):
        raise ValueError(f"{target}: '.' and '..' (or their encoded forms) are not allowed in a storage path: the "
                         "client would resolve them into another folder or container")
    account, suffix = None, None
    if "@" in authority:
        container, host = authority.split("@", 1)
        match = _HOST.match(host.lower())
        if not match:
            raise ValueError(f"{target}: {host!r} is not a storage account host (ACCOUNT.dfs.core.windows.net, "
                             f"or ACCOUNT.blob.<suffix> of {', '.join(STORAGE_SUFFIXES)})")
        account, suffix = match["account"], match["suffix"]
    else:
        container = authority
    if not container:
        raise ValueError(f"{target}: the URL names no container ({scheme}://CONTAINER/PATH)")
    if not _CONTAINER.match(container):
        raise ValueError(f"{target}: {container!r} is not a valid container name (3-63 lowercase letters, digits "
                         "and single hyphens)")
    connection_string = os.environ.get(CONNECTION_STRING_ENV) or None
    if account is None and not connection_string:
        account = os.environ.get(ACCOUNT_ENV) or None
        if account is None:
            raise ValueError(f"{target}: which storage account? Use abfs://{container}@ACCOUNT.dfs.core.windows.net/"
                             f"{path} or set {ACCOUNT_ENV} (or {CONNECTION_STRING_ENV})")
    if account is not None and not _ACCOUNT.match(account):
        raise ValueError(f"{target}: {account!r} is not a valid storage account name (3-24 lowercase letters and "
                         "digits)")
    if connection_string and account is not None:
        theirs = _connection_account(connection_string)
        if theirs is not None and theirs.lower() != account.lower():
            raise ValueError(f"{target}: names storage account {account!r}, but {CONNECTION_STRING_ENV} signs in to "
                             f"{theirs!r}: unset it, or name that account")
    fs = _filesystem(account, suffix, connection_string, credential)
    if connection_string and account is None:
        account = _connection_account(connection_string)
    return Location(target.rstrip("/"), f"{container}/{path}".rstrip("/"), account, fs)


SECRET_FIELDS = ("accountkey", "sharedaccesssignature")


def _connection_secrets(connection_string: str) -> list[str]:
    """The secret values of a connection string: its account key and its SAS."""
    out = []
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() in SECRET_FIELDS and value.strip():
            out.append(value.strip())
    return out


def _connection_account(connection_string: str) -> str | None:
    """The AccountName of a connection string (never its key)."""
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountname" and value.strip():
            return value.strip()
    return None


def _filesystem(account: str | None, suffix: str | None, connection_string: str | None, credential):
    try:
        from adlfs import AzureBlobFileSystem
    except ImportError:  # pragma: no cover - a dependency
        raise ValueError("storage URLs need the adlfs package (pip install adlfs)") from None
    if connection_string:
        for secret in _connection_secrets(connection_string):
            hold(secret)  # a key or SAS a storage error echoes back is redacted by value
        return AzureBlobFileSystem(connection_string=connection_string, skip_instance_cache=True)
    from .credentials import AsyncCredential, default_credential

    kwargs = {"account_host": f"{account}.blob.{suffix}"} if suffix else {}
    return AzureBlobFileSystem(account_name=account, credential=AsyncCredential(credential or default_credential()),
                               skip_instance_cache=True, **kwargs)


def _no_container(where: Location) -> str:
    account = where.account or "(from the connection string)"
    return (f"the container {where.container!r} does not exist in storage account {account}: create it "
            f"(az storage container create --name {where.container} --account-name {account} --auth-mode login)")


def explain(error: Exception, where: Location, doing: str) -> BlobStorageError:
    """One line for a failed storage call: the URL, what was being done, and what to do."""
    from .errors import redact

    status = getattr(error, "status_code", None)
    code = getattr(error, "error_code", None)
    code = str(getattr(code, "value", code) or "")
    text = str(error)
    first = redact(text.splitlines()[0] if text.strip() else type(error).__name__)
    account = where.account or "(from the connection string)"
    if code == "ContainerNotFound" or "ContainerNotFound" in text:
        message = _no_container(where)
    elif code == "AuthenticationFailed" or "failed to authenticate" in text:
        message = (f"storage account {account} refused the credential (a wrong account key in "
                   f"{CONNECTION_STRING_ENV}, or a token of another tenant): cannot {doing}")
    elif code.startswith(("AuthorizationPermissionMismatch", "AuthorizationFailure")) or status == 403:
        message = (f"permission denied to {doing}: the identity needs the {ROLE} role on the container "
                   f"{where.container!r} (Storage Blob Data Reader to read only)")
    elif type(error).__name__ == "ClientAuthenticationError" or "CredentialUnavailable" in type(error).__name__:
        message = f"no Azure credential could sign in to storage account {account} to {doing}: {first}"
    elif type(error).__name__ in ("ServiceRequestError", "ClientConnectorError") or isinstance(error, ConnectionError):
        message = f"storage account {account} could not be reached to {doing}: {first}"
    else:
        message = f"cannot {doing}: {first}"
    return BlobStorageError(f"{where.url}: {message}")
