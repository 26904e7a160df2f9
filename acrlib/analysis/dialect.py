"""acr purge's regular-expression dialect, for its ``--filter`` values.

acr-cli compiles filters with regexp2 (a port of .NET's engine) in its RE2-compatible mode: POSIX bracket
classes (``[[:alpha:]]``), ``(?P<name>...)`` groups, lookahead and lookbehind (of any length) all work, and a
filter that backtracks without end is stopped after a timeout (acr-cli's default: 60 s). Python's ``re`` reads
``[[:alpha:]]`` as a set of the characters ``[:alph`` and silently matches something else, and refuses
variable-length lookbehind; the ``regex`` module reads them as acr-cli does, and takes a timeout too.

Differences that remain (none of them can change a plan, since repository names and tags are ASCII by the OCI
distribution grammar and hold no line breaks): POSIX classes and ``\\w`` follow Unicode rather than ASCII, and
``$`` also matches before a final line break.
"""

from __future__ import annotations

import functools

import regex

TIMEOUT_S = 60.0  # acr-cli's --filter-timeout-seconds default


@functools.lru_cache(maxsize=1024)
def compile(pattern: str) -> regex.Pattern:
    """``pattern`` compiled in acr purge's dialect; ``ValueError`` naming the problem."""
    try:
        return regex.compile(pattern, regex.VERSION0)
    except (regex.error, TypeError) as e:
        raise ValueError(f"invalid regular expression {pattern!r}: {e}") from None


def search(pattern: str | regex.Pattern, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (as acr-cli's ``MatchString``), within :data:`TIMEOUT_S`
    (``ValueError`` naming the filter after it, as acr-cli stops)."""
    compiled = compile(pattern) if isinstance(pattern, str) else pattern
    try:
        return compiled.search(text, timeout=TIMEOUT_S) is not None
    except TimeoutError:
        raise ValueError(f"the filter {compiled.pattern!r} took longer than {TIMEOUT_S:.0f} s on {text!r}: "
                         "it backtracks without end; write it without nested repetition") from None
