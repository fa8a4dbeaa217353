"""A cached value's stamp: a digest of its bytes and when it was stored.

Written next to a rendered map or tile (under ``stamp_key(key)``, with the same time to live)
when it is stored, so that a cache hit can name its version (an HTTP ``ETag`` and
``Last-Modified``) without hashing the bytes again.
"""

from __future__ import annotations

import hashlib
import time
from email.utils import formatdate
from typing import NamedTuple


def stamp_key(key: str) -> str:
    """The cache key of the stamp of the value under ``key``."""
    return key + ":stamp"


class Stamp(NamedTuple):
    """``digest``: 32 hex digits of the bytes' SHA-256; ``stored``: an HTTP-date; ``length``."""

    digest: bytes
    stored: bytes
    length: int

    @classmethod
    def of(cls, content: bytes) -> Stamp:
        """The stamp of ``content`` stored now."""
        digest = hashlib.sha256(content).hexdigest()[:32].encode()
        return cls(digest, formatdate(time.time(), usegmt=True).encode(), len(content))

    def encode(self) -> bytes:
        return b"|".join((self.digest, self.stored, b"%d" % self.length))

    @classmethod
    def checked(cls, raw: bytes | None, content: bytes) -> Stamp:
        """The stored stamp ``raw`` of ``content``; computed now when it is missing, unreadable
        or of other bytes (a value stored without one, or evicted apart from it)."""
        if raw is not None:
            parts = raw.split(b"|")
            if len(parts) == 3 and parts[2].isdigit() and int(parts[2]) == len(content):
                return cls(parts[0], parts[1], len(content))
        return cls.of(content)
