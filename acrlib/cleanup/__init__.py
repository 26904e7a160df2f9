"""The cleanup wing: carrying out a purge plan (:func:`apply`), the one part of acrlib that deletes, only when
asked to, journalling every step (:mod:`.journal`)."""

from .run import Applied, apply

__all__ = ["Applied", "apply"]
