"""What tile requests resolved to, shared through the cache beside the tiles: a worker, process
or replica that has not seen a tile request reads its key from Redis on the event loop instead
of building and validating the request (~1 ms of CPU in a thread, queued under load).

A mapping's name is a digest of everything that decides a tile's key: the request as asked
(address, parameters), the configuration, the gateway's version and the listed summary of the
layer's collection (what TIME means). A process whose catalog or configuration differs looks
under another name: a stale mapping is never read. Mappings are written only with a tile the
process rendered, with its TTL, so there are never more of them than tiles.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.core.cache import KEY_PREFIX
from gateway.core.tiles.hits import Known

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.core.dates import TimePolicy

MEANINGS = 1024  # (catalog version, layer) -> digest of its collection's summary, remembered


class SharedKeys:
    """Names and values of the shared mappings of one configuration and catalog."""

    def __init__(self, config: GatewayConfig, times: TimePolicy) -> None:
        self._config = config
        self._times = times
        setup = f"{__version__}\n{config.model_dump_json()}"
        self._setup = hashlib.sha256(setup.encode()).hexdigest()
        self._meanings: dict[tuple[int, str], str] = {}
        self._lock = threading.Lock()

    def name(self, request: Hashable, layer: str) -> str | None:
        """The mapping's cache key of ``request`` (its address and parameters) of ``layer``;
        None until ``prepare(layer)`` worked out what TIME means for it at this catalog
        version (never lists the catalog: the event loop calls it)."""
        meaning = self._meanings.get((self._times.version, layer))
        if meaning is None:
            return None
        text = f"{self._setup}\n{meaning}\n{request!r}"
        return f"{KEY_PREFIX}:v1:tilekey:{hashlib.sha256(text.encode()).hexdigest()[:32]}"

    def prepare(self, layer: str) -> bool:
        """Work out what TIME means for ``layer`` now, from its collection's summary (listed if
        it was not: in a thread); False for an unknown layer."""
        version = self._times.version
        if (version, layer) in self._meanings:
            return True
        found = self._config.layer(layer)
        if found is None:
            return False
        summary = self._times.summary(found.collection)
        meaning = hashlib.sha256(repr(summary).encode()).hexdigest()
        with self._lock:
            if len(self._meanings) >= MEANINGS:
                self._meanings.clear()
            self._meanings[(version, layer)] = meaning
        return True

    def prepared_name(self, request: Hashable, layer: str) -> str | None:
        """``name`` once ``prepare(layer)`` worked (in a thread: it may list the catalog)."""
        return self.name(request, layer) if self.prepare(layer) else None

    @staticmethod
    def encode(known: Known) -> bytes:
        return json.dumps([known.key, known.media_type, known.warning, known.units]).encode()

    def decode(self, value: bytes) -> Known | None:
        """The mapping's ``Known`` (at this process's catalog version), or None if unreadable."""
        try:
            key, media_type, warning, units = json.loads(value)
        except (ValueError, TypeError):
            return None
        if not (isinstance(key, str) and key.startswith(f"{KEY_PREFIX}:")):
            return None
        return Known(key, media_type, warning, self._times.version, float(units))
