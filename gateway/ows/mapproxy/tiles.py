"""WMTS tiles: cache hits answered in the event loop, misses rendered through the engine.

A tile's cache key is the engine's own (``make_key("map", request.cache_parts())``), so the
door, ``engine.render`` and ``cdse-gateway seed`` share every tile. Validating a request and
computing its key costs ~50 µs; it is done once per distinct tile request and remembered,
after which a hit is one Redis GET on an asyncio connection (no thread hop). A miss goes to
a worker thread: ``engine.render`` (cache, ``SET NX PX`` lock so one caller renders).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio.to_thread
import redis.asyncio
from anyio import CapacityLimiter
from redis.exceptions import RedisError

from gateway.core.admission import exempt
from gateway.core.cache import Cache, RedisCache, get_or_create, make_key
from gateway.core.grid import Grid
from gateway.core.render import IMAGE_FORMATS, MEDIA_TYPES, colorize, encode_image
from gateway.core.request import RenderRequest
from gateway.core.stamps import Stamp, stamp_key
from gateway.ows.mapproxy.wms import time_warning
from gateway.ows.mapproxy.wmts import TileAddress, TileGrids
from gateway.runtime import Runtime

# The request parameters that, with the tile address, decide a tile's bytes.
PARAMS = ("TIME", "MAXCC", "PRIORITY", "EXPRESSION", "STYLE", "STYLES")
KNOWN_KEYS = 65536
# How long a process trusts a tile's stamp without reading it again (a tile's bytes change
# only when it is rendered again; a changed length is noticed at once). Browsers may keep a
# tile for GATEWAY_TILE_MAX_AGE_S anyway.
STAMP_MEMORY_S = 60.0
METATILE = 2  # tiles per side of a metatile block (1: no metatiles)
# Zoomed in (a tile pixel of 10 m or finer, at the equator), blocks of 4x4: the Sentinel-2
# pixels under them are few, and browsing at 2 workers ran 15 % faster than with 2x2 blocks
# (bench/bench_tiles.py); zoomed out a block stays small so its first tile comes quickly.
METATILE_ZOOMED_IN = 4
ZOOMED_IN_M = 10.0
METRES_PER_DEGREE = 111_320.0
# Tiles rendered at once per process. Rendering is mostly GDAL and numpy on a core; more
# threads than cores only queue on the GIL and the CPU (bench/bench_tiles.py).
RENDER_THREADS = 2


@dataclass(frozen=True)
class Tile:
    content: bytes
    media_type: str
    cached: bool
    stamp: Stamp  # its version (HTTP validators), stored next to it in the cache
    warning: str | None = None  # a default or nearest TIME value used (WMS's Warning header)


Known = tuple[str, str, str | None, int]  # cache key, media type, warning, summary version


class _Keys:
    """A bounded, thread-safe LRU: a tile request -> what its request resolved to."""

    def __init__(self, size: int = KNOWN_KEYS) -> None:
        self._items: OrderedDict[tuple, Known] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, signature: tuple) -> Known | None:
        with self._lock:
            found = self._items.get(signature)
            if found is not None:
                self._items.move_to_end(signature)
            return found

    def put(self, signature: tuple, value: Known) -> None:
        with self._lock:
            self._items[signature] = value
            self._items.move_to_end(signature)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class HitReader:
    """Reads the tile cache without leaving the event loop.

    Redis: its own asyncio connection to the same server and keys as ``runtime.cache``,
    left alone for ``retry_after_s`` after a failure (the miss path then renders, through
    the runtime's cache, which degrades by itself). In-process cache: a dict lookup.

    A tile comes with its stamp (its HTTP validators), read with it in one ``MGET`` and then
    remembered for ``STAMP_MEMORY_S``, during which a hit is one ``GET`` (``MGET``'s reply
    cost ~10 µs more in redis-py) whose length is checked against the stamp's.
    """

    def __init__(self, cache: Cache, redis_url: str | None, retry_after_s: float = 1.0) -> None:
        self._cache = cache
        self._redis = None
        if isinstance(cache, RedisCache) and redis_url:
            self._redis = redis.asyncio.Redis.from_url(
                redis_url, socket_timeout=0.25, socket_connect_timeout=0.25
            )
        self._retry_after_s = retry_after_s
        self._down_until = 0.0
        self._stamps: dict[str, tuple[Stamp, float]] = {}  # key -> (stamp, known until)

    async def get(self, key: str) -> tuple[bytes, Stamp] | None:
        if self._redis is None:
            value = self._cache.get(key)
            return None if value is None else (value, _stamp(self._cache, key, value))
        now = time.monotonic()
        if now < self._down_until:
            return None
        known = self._stamps.get(key)
        try:
            if known is not None and now < known[1]:
                value = await self._redis.get(key)
                if value is None:
                    return None
                if len(value) == known[0].length:
                    self._cache.stats.add("hits")
                    return value, known[0]
                raw_stamp = await self._redis.get(stamp_key(key))  # rendered again since
            else:
                value, raw_stamp = await self._redis.mget(key, stamp_key(key))
        except (RedisError, OSError):
            self._down_until = time.monotonic() + self._retry_after_s
            return None
        if value is None:
            return None
        self._cache.stats.add("hits")
        stamp = Stamp.checked(raw_stamp, value)
        if len(self._stamps) >= KNOWN_KEYS:
            self._stamps.clear()
        self._stamps[key] = (stamp, now + STAMP_MEMORY_S)
        return value, stamp


class TileService:
    """GetTile for the WMTS door (REST and KVP alike) and for seeding.

    A missing tile is rendered with its ``metatile`` x ``metatile`` block of neighbours in one
    engine read (``engine.compute`` on the block's grid, cut into tiles, each cached under its
    own key). On the sample's JPEG 2000 (1024 px codestream tiles) a 2x2 block costs about
    what one tile does (bench/bench_tiles.py --metatiles): neighbours come almost free.
    Concurrent requests for tiles of one block render it once: in this process they wait for
    the render under way (an event, no render slot taken), across processes and replicas on
    the block's Redis lock, keyed by its first tile.
    """

    def __init__(self, runtime: Runtime, grids: TileGrids, *, metatile: int = METATILE) -> None:
        self.runtime = runtime
        self.grids = grids
        self.metatile = metatile
        self._keys = _Keys()
        self._raw = _Keys()  # (path, query string) -> what it resolved to
        self._hits = HitReader(runtime.cache, runtime.settings.redis_url)
        self._renders: CapacityLimiter | None = None  # made in the event loop, on first use
        self._rendering: dict[tuple, anyio.Event] = {}  # blocks being rendered in this process

    async def known_hit(self, raw: tuple[str, bytes]) -> Tile | None:
        """The cached tile of a request seen before, by its raw path and query string alone
        (no parsing: KVP GetTile hits cost what REST ones do), or None."""
        known = self._raw.get(raw)
        if known is None or known[3] != self.runtime.times.version:
            return None  # unknown, or the catalog changed what its TIME means
        return await self._hit(known)

    async def _hit(self, known: Known) -> Tile | None:
        found = await self._hits.get(known[0])
        if found is None:
            return None
        return Tile(found[0], known[1], True, found[1], warning=known[2])

    def _known(self, request: RenderRequest) -> Known:
        """What a tile request resolved to, remembered under its signature."""
        key, media_type = tile_key(request), MEDIA_TYPES[request.format]
        return key, media_type, time_warning([request]), self.runtime.times.version

    def _signature(self, address: TileAddress, params: Mapping[str, str]) -> tuple:
        """What decides a tile request's key: its address, its parameters and what the
        catalog summaries make of its TIME (their version)."""
        version = self.runtime.times.version
        return (address, version, *(params.get(name) for name in PARAMS))

    async def tile(
        self,
        address: TileAddress,
        params: Mapping[str, str],
        raw: tuple[str, bytes] | None = None,
    ) -> Tile:
        """The tile (``raw``: the request's path and query, remembered for ``known_hit``)."""
        signature = self._signature(address, params)
        hit = await self._known_tile(signature, raw)
        if hit is not None:
            return hit
        # A tile of a block this process is rendering: wait for it, without taking a render
        # slot or polling the lock, then read it as a hit.
        block = (self._block_origin(address), *signature[1:])
        if block[0] is not None and (rendering := self._rendering.get(block)) is not None:
            await rendering.wait()
            hit = await self._known_tile(signature, raw)
            if hit is not None:
                return hit
        if self._renders is None:
            self._renders = CapacityLimiter(RENDER_THREADS)
        done = self._rendering.setdefault(block, anyio.Event()) if block[0] is not None else None
        try:
            tile = await anyio.to_thread.run_sync(
                self.render, address, params, signature, limiter=self._renders
            )
        finally:
            if done is not None:
                if self._rendering.get(block) is done:
                    del self._rendering[block]
                done.set()
        if raw is not None and (known := self._keys.get(signature)) is not None:
            self._raw.put(raw, known)
        return tile

    async def _known_tile(self, signature: tuple, raw: tuple[str, bytes] | None) -> Tile | None:
        """The cached tile of a request whose key is known (remembering its raw form)."""
        known = self._keys.get(signature)
        if known is None:
            return None
        if raw is not None:
            self._raw.put(raw, known)
        return await self._hit(known)

    @exempt  # no admission place: RENDER_THREADS bounds tile renders
    def render(
        self, address: TileAddress, params: Mapping[str, str], signature: tuple | None = None
    ) -> Tile:
        """The tile from the cache, else rendered (with its block) into the cache."""
        request = self.grids.tile_request(self.runtime, address, params)  # validates
        self._keys.put(signature or self._signature(address, params), self._known(request))
        return self.render_request(address, request, known=lambda a: self._signature(a, params))

    def render_request(
        self,
        address: TileAddress,
        request: RenderRequest,
        known: Callable[[TileAddress], tuple] | None = None,
    ) -> Tile:
        """The tile at ``address`` whose engine request is ``request`` (as ``tile_request``
        builds it, or another door's with the same grid): from the cache, else rendered with
        its block into the cache. One render path for a tile address, whatever door asks.
        ``known`` gives the block's tiles' signatures to remember their keys under."""
        key, media_type, warning, _ = self._known(request)
        block = self._block(address)
        cache = self.runtime.cache
        if len(block) == 1 or request.format not in IMAGE_FORMATS:
            return self._rendered(key, request, warning)
        content = cache.get(key)
        if content is not None:
            return Tile(content, media_type, True, _stamp(cache, key, content), warning)
        produced: dict[str, bytes] = {}
        # One lock per block: keyed by the block's first tile, whichever tile was asked.
        first = self._tile_request(request, block[0])

        def produce() -> bytes:
            produced.update(self._render_block(block, request, known))
            return b"1"

        meta_key = make_key("metatile", {"tile": tile_key(first), "size": len(block)})
        get_or_create(cache, meta_key, produce, ttl_ms=self.runtime.engine.ttl_ms)
        if key in produced:
            content = produced[key]
            stamp = Stamp.checked(produced[stamp_key(key)], content)
            return Tile(content, media_type, False, stamp, warning)
        content = cache.get(key)
        if content is None:  # rendered elsewhere but not readable (Redis down, evicted)
            return self._rendered(key, request, warning)
        return Tile(content, media_type, True, _stamp(cache, key, content), warning)

    def _rendered(self, key: str, request: RenderRequest, warning: str | None) -> Tile:
        """The tile through ``engine.render`` (its cache, its stamp)."""
        rendered = self.runtime.engine.render(request)
        stamp = rendered.stamp or _stamp(self.runtime.cache, key, rendered.content)
        return Tile(rendered.content, rendered.media_type, rendered.cached, stamp, warning)

    def _tile_request(self, request: RenderRequest, address: TileAddress) -> RenderRequest:
        """``request`` (a tile's) for another tile of the same tile matrix."""
        grid = self.grids[address.tile_matrix_set]
        bbox = grid.tile_bbox((address.x, address.y, address.z))
        width, height = grid.tile_size
        return replace(request, grid=Grid(request.grid.crs, bbox, width, height))

    def _block_origin(self, address: TileAddress) -> TileAddress | None:
        """The first tile of ``address``'s block; None off the grids (``render`` says why)."""
        if address.tile_matrix_set not in self.grids:
            return None
        grid = self.grids[address.tile_matrix_set]
        if not 0 <= address.z < grid.levels:
            return None
        columns, rows = grid.grid_sizes[address.z]
        if not (0 <= address.x < columns and 0 <= address.y < rows):
            return None
        return self._block(address)[0]

    def _block(self, address: TileAddress) -> list[TileAddress]:
        """The tiles of ``address``'s metatile block (clipped at the matrix edges)."""
        grid = self.grids[address.tile_matrix_set]
        size = self.metatile
        if size > 1 and _pixel_metres(grid, address.z) <= ZOOMED_IN_M:
            size = max(size, METATILE_ZOOMED_IN)
        if size <= 1:
            return [address]
        columns, rows = grid.grid_sizes[address.z]
        x0, y0 = address.x - address.x % size, address.y - address.y % size
        return [
            address._replace(x=x, y=y)
            for y in range(y0, min(y0 + size, rows))
            for x in range(x0, min(x0 + size, columns))
        ]

    def _render_block(
        self,
        block: list[TileAddress],
        request: RenderRequest,
        known: Callable[[TileAddress], tuple] | None,
    ) -> dict[str, bytes]:
        """Compute the block once (``request``: one of its tiles'), cut it into tiles, encode
        and cache each; key -> bytes. Each tile's pixels are those of its own render: the
        engine's values do not depend on the window asked (gateway/core/lattice.py)."""
        grid = self.grids[block[0].tile_matrix_set]
        width, height = grid.tile_size
        xs, ys = sorted({a.x for a in block}), sorted({a.y for a in block})
        west, south = grid.tile_bbox((xs[0], ys[-1], block[0].z))[:2]
        east, north = grid.tile_bbox((xs[-1], ys[0], block[0].z))[2:]
        meta = replace(
            request,
            grid=Grid(
                request.grid.crs, (west, south, east, north), width * len(xs), height * len(ys)
            ),
        )
        raster = self.runtime.engine.compute(meta)
        style = self.runtime.config.style(request.style)
        assert style is not None  # build_request checked it
        out: dict[str, bytes] = {}
        for address in block:
            col, row = xs.index(address.x) * width, ys.index(address.y) * height
            data = raster.data[:, row : row + height, col : col + width]
            valid = raster.valid[row : row + height, col : col + width]
            key = tile_key(self._tile_request(request, address))
            out[key] = encode_image(colorize(data, valid, style), request.format)
            out[stamp_key(key)] = Stamp.of(out[key]).encode()
            if known is not None:  # the block's other tiles, asked next, need no render thread
                self._keys.put(known(address), self._known(self._tile_request(request, address)))
        self.runtime.cache.set_many(out, self.runtime.engine.ttl_ms)
        return out


def _pixel_metres(grid: Any, z: int) -> float:
    """A tile pixel's size at ``z`` in metres (at the equator for geographic grids)."""
    resolution = grid.resolution(z)
    return resolution * METRES_PER_DEGREE if grid.srs.is_latlong else resolution


def _stamp(cache: Cache, key: str, content: bytes) -> Stamp:
    """The stamp stored next to the tile under ``key`` (made now if it has none)."""
    return Stamp.checked(cache.get(stamp_key(key)), content)


def tile_key(request: RenderRequest) -> str:
    """The engine's cache key of a request (as ``Engine.render`` makes it)."""
    return make_key("map", request.cache_parts())
