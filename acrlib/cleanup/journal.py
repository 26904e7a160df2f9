"""The journal of an ``apply``: one JSON object per line, written as things happen, local or in Blob Storage.

Lines, in order: a ``plan`` line (the plan's fingerprint, whether it is a dry run, when it started), then per
action an ``attempt`` line before its request is sent and an ``outcome`` line after (``done``, ``skipped``,
``failed`` or, in a dry run, ``would-delete``, with the premise that was checked, the answer and the time),
and an ``end`` line with the summary. A local journal is appended to and flushed line by line; one in Blob
Storage is written again whole after every repository (Blob Storage has no append through fsspec).

Resuming reads the journal back: an action with an outcome ``done`` or ``skipped`` is not repeated; one that
``failed``, or that was attempted without an outcome (the process died while its request was in flight), is
checked again against a fresh listing, which tells whether the registry carried it out.
"""

from __future__ import annotations

import datetime as dt
import json
import os

from ..locations import Location

FINAL = ("done", "skipped")  # outcomes a resumed run does not repeat
MAX_LINE = 1 << 20  # a journal line longer than this is not ours


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Journal:
    """Append-only record of one ``apply``; :meth:`read` gives a resumed run what was done."""

    def __init__(self, where: Location):
        self.where = where
        self._lines: list[str] = []  # every line, for a remote journal's rewrite
        self._file = None

    @classmethod
    def open(cls, target, *, credential=None, resume: bool = False) -> Journal:
        """The journal at ``target`` (a path or ``az://`` URL). A new journal must not exist yet; a resumed one
        must. ``ValueError`` naming the problem, before anything is sent."""
        where = Location.of(target, credential=credential)
        exists = where.exists()
        if resume and not exists:
            raise ValueError(f"journal {where} does not exist: nothing to resume")
        if not resume and exists:
            raise ValueError(f"journal {where} exists already: resume it (--resume) or name a new one")
        journal = cls(where)
        if resume:
            journal._lines = [line for line in where.read_bytes().decode("utf-8", "replace").splitlines() if line]
        if not where.remote:
            path = where.public()
            os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
            journal._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run, closed in close()
        return journal

    def records(self) -> list[dict]:
        """The journal's lines as read (a line that is not a JSON object is left out: a torn last line)."""
        out = []
        for line in self._lines:
            if len(line) > MAX_LINE:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def write(self, record: dict) -> None:
        """Add one line now (a local journal is flushed to disk before this returns)."""
        line = json.dumps({**record, "at": record.get("at") or now()}, default=str, separators=(",", ":"))
        self._lines.append(line)
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def sync(self) -> None:
        """A remote journal, written again whole (after each repository and at the end)."""
        if self.where.remote:
            self.where.write_bytes(("\n".join(self._lines) + "\n").encode(), content_type="application/x-ndjson")

    def close(self) -> None:
        self.sync()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __str__(self) -> str:
        return str(self.where)


def state(records: list[dict]) -> dict[str, dict]:
    """Per action key, its last outcome line (actions attempted without one map to ``{"outcome": "unknown"}``)."""
    last: dict[str, dict] = {}
    for record in records:
        key = record.get("key")
        if not isinstance(key, str):
            continue
        if record.get("type") == "outcome":
            last[key] = record
        elif record.get("type") == "attempt" and last.get(key, {}).get("outcome") not in FINAL:
            last[key] = {"outcome": "unknown"}
    return last
