"""The tile service of every door: cache hits answered in the event loop, misses rendered with
their metatile block, one render of a block at a time.

A tile's cache key is the engine's own (``make_key("map", request.cache_parts())``), so the
WMTS door, WMS GetMaps that are one tile, OGC API Tiles, ``engine.render`` and ``cdse-gateway
seed`` share every tile. Validating a request and computing its key costs ~0.6 ms of CPU; it is
done once per distinct tile request in a process (in a worker thread, without waiting for a
render slot: the tile may be in the cache already) and remembered, after which a hit is one
Redis GET on an asyncio connection (no thread hop). The process that renders a tile also
shares what its request resolved to (``gateway.core.tiles.shared``): other workers, processes
and replicas read it on the event loop instead of resolving the request. A miss is rendered in
a worker thread, at most ``RENDER_THREADS`` at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import anyio.to_thread
from anyio import CapacityLimiter

from gateway.context import charge
from gateway.core.admission import exempt
from gateway.core.cache import Cache, get_or_create, make_key
from gateway.core.dates import TimePolicy
from gateway.core.engine import Engine
from gateway.core.grid import Grid
from gateway.core.render import (
    IMAGE_FORMATS,
    MEDIA_TYPES,
    parse_format,
)
from gateway.core.request import RenderRequest, build_request, warning_header
from gateway.core.stamps import Stamp, stamp_key
from gateway.core.tiles.flights import Flights
from gateway.core.tiles.grids import TileAddress, TileGrid, TileGrids
from gateway.core.tiles.hits import HitReader, Known, KnownKeys, stored_stamp
from gateway.core.tiles.shared import SharedKeys
from gateway.core.vendor_params import VendorTexts
from gateway.errors import GatewayError, InvalidParameterValue, NotFound
from gateway.priority import keep_priority

TILE_FORMATS = frozenset({"png", "jpeg", "webp"})
METATILE = 2  # tiles per side of a metatile block (1: no metatiles)
# Zoomed in (a tile pixel of 10 m or finer, at the equator), blocks of 4x4: the Sentinel-2
# pixels under them are few, and browsing at 2 workers ran 15 % faster than with 2x2 blocks
# (bench/bench_tiles.py); zoomed out a block stays small so its first tile comes quickly.
METATILE_ZOOMED_IN = 4
ZOOMED_IN_M = 10.0
METRES_PER_DEGREE = 111_320.0
# Tiles rendered at once per process from the event loop. Rendering is mostly GDAL and numpy
# on a core; more threads than cores only queue on the GIL and the CPU (bench/bench_tiles.py).
RENDER_THREADS = 2
# Threads that read hits the event loop cannot (keys not resolved yet, its connection
# resting): at the loop's priority, never the render threads' (gateway.priority).
LOOKUP_THREADS = 2


class TileOutOfRange(GatewayError):
    code = "TileOutOfRange"
    status = 400


@dataclass(frozen=True, kw_only=True)
class TileParams(VendorTexts):
    """What a tile request adds to its address, as the client wrote it (hashable: with the
    address and what TIME means now, it decides the tile's key)."""

    style: str | None = None
    resampling: str | None = None


@dataclass(frozen=True)
class Tile:
    content: bytes
    media_type: str
    cached: bool
    stamp: Stamp  # its version (HTTP validators), stored next to it in the cache
    warning: str | None = None  # a default or nearest TIME value used (WMS's Warning header)


Signature = tuple[TileAddress, int, TileParams]  # address, TIME's meaning (version), params


def tile_key(request: RenderRequest) -> str:
    """The engine's cache key of a request (as ``Engine.render`` makes it)."""
    return make_key("map", request.cache_parts())


class TileService:
    """Tiles by address and parameters, for every door and for seeding.

    A missing tile is rendered with its ``metatile`` x ``metatile`` block of neighbours in one
    engine read (``engine.compute`` on the block's grid, cut into tiles, each cached under its
    own key). On the sample's JPEG 2000 (1024 px codestream tiles) a 2x2 block costs about
    what one tile does (bench/bench_tiles.py --metatiles): neighbours come almost free.
    Concurrent requests for tiles of one block render it once: in this process they wait for
    the render under way (``flights``: from the event loop or a thread, no render slot
    taken), across processes and replicas on the block's cache lock, keyed by its first tile.
    """

    def __init__(
        self,
        engine: Engine,
        times: TimePolicy,
        *,
        redis_url: str | None = None,
        grids: TileGrids | None = None,
        metatile: int = METATILE,
        hits: HitReader | None = None,
    ) -> None:
        if engine.cache is None:
            raise ValueError("the tile service needs the engine's cache")
        self.engine = engine
        self.cache: Cache = engine.cache
        self.times = times
        self.grids = grids if grids is not None else TileGrids()
        self.metatile = metatile
        self._keys = KnownKeys()
        self._raw = KnownKeys()  # (path, query string) -> what it resolved to
        self._hits = hits if hits is not None else HitReader(self.cache, redis_url)
        self._shared = SharedKeys(engine.config, times)
        self._renders: CapacityLimiter | None = None  # made in the event loop, on first use
        self._lookups = ThreadPoolExecutor(
            LOOKUP_THREADS, thread_name_prefix="tile-lookup", initializer=keep_priority
        )
        self._flights = Flights()
        self._preparing: dict[tuple[int, str], asyncio.Future[bool]] = {}  # in flight only

    @property
    def hits(self) -> HitReader:
        """The cache reader of the event loop (a new tile service of the same cache may share
        it, with its open connections)."""
        return self._hits

    async def open_hits(self, connections: int) -> int:
        """Open the event loop's connections for cache hits now (``HitReader.open``)."""
        return await self._hits.open(connections)

    @property
    def render_joins(self) -> int:
        """Tile requests that waited for the render of their block another one led."""
        return self._flights.joined

    # -- requests and keys -------------------------------------------------------------

    def request(self, address: TileAddress, params: TileParams) -> RenderRequest:
        """The engine request of one tile; validates layer, set, z/x/y, format and params (the
        expression too, and that the style shows it, before any read)."""
        config = self.engine.config
        if config.layer(address.layer) is None:
            raise NotFound(
                f"unknown layer {address.layer[:40]!r}", locator="layer", code="LayerNotDefined"
            )
        grid = self.grids.get(address.tile_matrix_set)
        if grid is None:
            raise InvalidParameterValue(
                f"unknown TileMatrixSet {address.tile_matrix_set[:40]!r}", locator="tilematrixset"
            )
        if not 0 <= address.z < grid.levels:
            raise TileOutOfRange("TileMatrix out of range", locator="tilematrix")
        columns, rows = grid.matrix_size(address.z)
        if address.x >= columns:
            raise TileOutOfRange("TileCol out of range", locator="tilecol")
        if address.y >= rows:
            raise TileOutOfRange("TileRow out of range", locator="tilerow")
        request = build_request(
            config,
            layer=address.layer,
            bbox=grid.tile_bbox(address.x, address.y, address.z),
            crs=grid.crs,
            width=grid.tile_size[0],
            height=grid.tile_size[1],
            format=parse_format(address.format, allowed=TILE_FORMATS),
            style=params.style,
            resampling=params.resampling,
            times=self.times,
            **params.request_args(),
        )
        self.engine.check(request)  # a tile is a picture: its style must show the expression
        return request

    def signature(self, address: TileAddress, params: TileParams) -> Signature:
        """What decides a tile request's key: its address, its parameters and what the
        catalog summaries make of its TIME (their version)."""
        return (address, self.times.version, params)

    def _known(self, request: RenderRequest) -> Known:
        """What a tile request resolved to, remembered under its signature."""
        return Known(
            key=tile_key(request),
            media_type=MEDIA_TYPES[request.format],
            warning=warning_header([request]),
            version=self.times.version,
            units=self.engine.units(request),
        )

    # -- the event loop ----------------------------------------------------------------

    async def known_hit(self, raw: tuple[str, bytes]) -> Tile | None:
        """The cached tile of a request seen before, by its raw path and query string alone
        (no parsing: KVP GetTile hits cost what REST ones do), or None."""
        known = self._raw.get(raw)
        if known is None or known.version != self.times.version:
            return None  # unknown, or the catalog changed what its TIME means
        return await self._hit(known)

    async def _hit(self, known: Known) -> Tile | None:
        found = await self._hits.get(known.key)
        if found is None:
            return None
        charge(known.units, cached=True)
        return Tile(found[0], known.media_type, True, found[1], warning=known.warning)

    async def _known_tile(self, signature: Signature, raw: tuple[str, bytes] | None) -> Tile | None:
        """The cached tile of a request whose key is known (remembering its raw form)."""
        known = self._keys.get(signature)
        if known is None:
            return None
        if raw is not None:
            self._raw.put(raw, known)
        return await self._hit(known)

    async def tile(
        self, address: TileAddress, params: TileParams, raw: tuple[str, bytes] | None = None
    ) -> Tile:
        """The tile, from the event loop (``raw``: the request's path and query, remembered
        for ``known_hit``): a known hit without leaving it, else rendered in a worker."""
        signature = self.signature(address, params)
        hit = await self._cached_tile(address, params, signature, raw)
        if hit is not None:
            return hit
        flight = None
        origin = self._block_origin(address)
        if origin is not None:
            flight = self._flights.join((origin, *signature[1:]))
            if not flight.leads:  # a tile of a block under way here: wait, then read it
                await flight.landed()
                hit = await self._cached_tile(address, params, signature, raw)
                if hit is not None:
                    return hit
        if self._renders is None:
            self._renders = CapacityLimiter(RENDER_THREADS)
        try:
            tile = await anyio.to_thread.run_sync(
                self._render_exempt, address, params, limiter=self._renders
            )
        finally:
            if flight is not None:
                self._flights.land(flight)
        if raw is not None and (known := self._keys.get(signature)) is not None:
            self._raw.put(raw, known)
        return tile

    async def _cached_tile(
        self,
        address: TileAddress,
        params: TileParams,
        signature: Signature,
        raw: tuple[str, bytes] | None,
    ) -> Tile | None:
        """The cached tile or None: on the event loop's own connection when its key is known
        and that connection works; else in a lookup thread, never waiting for a render slot
        (its key resolved first when this process has not seen it: another process or replica
        may have rendered it). Queued behind the renders, such hits waited seconds under load
        (bench/bench_load.py)."""
        hit = await self._known_tile(signature, raw)
        if hit is not None or (self._keys.get(signature) is not None and self._hits.available):
            return hit
        if self._hits.available and await self._shared_known(address, params, signature):
            return await self._known_tile(signature, raw)
        lookup = functools.partial(
            contextvars.copy_context().run, self._lookup, address, params, signature
        )
        hit = await asyncio.get_running_loop().run_in_executor(self._lookups, lookup)
        if hit is not None and raw is not None and (known := self._keys.get(signature)):
            self._raw.put(raw, known)
        return hit

    async def _shared_known(
        self, address: TileAddress, params: TileParams, signature: Signature
    ) -> bool:
        """Whether the key of a request unknown here was read from the mapping another
        process shared (remembered then), on the event loop's connection."""
        name = self._shared.name((address, params), address.layer)
        if name is None:
            # What TIME means for the layer, worked out once in a lookup thread for all the
            # requests that wait for it (a worker's first burst), then on the event loop.
            if not await self._prepared(address.layer):
                return False
            name = self._shared.name((address, params), address.layer)
            if name is None:
                return False
        return self._remember_shared(await self._hits.value(name), signature) is not None

    async def _prepared(self, layer: str) -> bool:
        key = (self.times.version, layer)
        pending = self._preparing.get(key)
        if pending is None:
            call = functools.partial(contextvars.copy_context().run, self._shared.prepare, layer)
            pending = asyncio.get_running_loop().run_in_executor(self._lookups, call)
            self._preparing[key] = pending
            pending.add_done_callback(lambda _: self._preparing.pop(key, None))
        return await asyncio.shield(pending)

    def _share(self, address: TileAddress, params: TileParams, known: Known) -> dict[str, bytes]:
        """The mapping of a request this process rendered (to store with its tile), or none
        if the catalog changed since it was resolved."""
        name = self._shared.prepared_name((address, params), address.layer)
        if name is None or known.version != self.times.version:
            return {}
        return {name: self._shared.encode(known)}

    def _lookup(
        self, address: TileAddress, params: TileParams, signature: Signature
    ) -> Tile | None:
        """The cached tile (its request validated and its key remembered first if unknown)."""
        known = self._keys.get(signature) or self._shared_mapping(address, params, signature)
        if known is None:
            known = self._known(self.request(address, params))
            self._keys.put(signature, known)
        return self._cached(known)

    def _shared_mapping(
        self, address: TileAddress, params: TileParams, signature: Signature
    ) -> Known | None:
        """What another process shared that the request resolved to (remembered), read in
        this thread (what TIME means for its layer worked out first, for the event loop's
        next requests), or None."""
        name = self._shared.prepared_name((address, params), address.layer)
        return self._remember_shared(None if name is None else self.cache.get(name), signature)

    def _remember_shared(self, value: bytes | None, signature: Signature) -> Known | None:
        """A shared mapping's ``Known``, remembered under ``signature``, if it is of this
        process's catalog version; else None."""
        known = None if value is None else self._shared.decode(value)
        if known is None or known.version != signature[1]:
            return None
        self._keys.put(signature, known)
        return known

    @exempt  # no admission place: RENDER_THREADS bounds the event loop's tile renders
    def _render_exempt(self, address: TileAddress, params: TileParams) -> Tile:
        return self._render(address, params, self.request(address, params))

    # -- any thread --------------------------------------------------------------------

    def render(self, address: TileAddress, params: TileParams) -> Tile:
        """The tile from a worker thread (OGC API Tiles, seeding): from the cache, else
        rendered with its block, or after the render of its block under way in this process."""
        request = self.request(address, params)  # validates
        signature = self.signature(address, params)
        known = self._known(request)
        self._keys.put(signature, known)
        hit = self._cached(known)
        if hit is not None:
            return hit
        flight = self._flights.join((self._block(address)[0], *signature[1:]))
        if not flight.leads:
            flight.wait()
            hit = self._cached(known)
            return hit if hit is not None else self._render(address, params, request)
        try:
            return self._render(address, params, request)
        finally:
            self._flights.land(flight)

    def _cached(self, known: Known) -> Tile | None:
        """The tile under a known key, from the cache (in this thread), or None."""
        content = self.cache.get(known.key)
        if content is None:
            return None
        charge(known.units, cached=True)
        stamp = stored_stamp(self.cache, known.key, content)
        return Tile(content, known.media_type, True, stamp, known.warning)

    def _render(self, address: TileAddress, params: TileParams, request: RenderRequest) -> Tile:
        """The tile at ``address`` whose engine request is ``request``: from the cache, else
        rendered with its block into the cache (the block's lock taken: one render across
        processes)."""
        known = self._known(request)
        self._keys.put(self.signature(address, params), known)
        key, media_type, warning = known.key, known.media_type, known.warning
        block = self._block(address)
        if len(block) == 1 or request.format not in IMAGE_FORMATS:
            tile = self._rendered(key, request, warning)
            if not tile.cached:
                self.cache.set_many(self._share(address, params, known), self.engine.ttl_ms)
            return tile
        hit = self._cached(known)
        if hit is not None:
            return hit
        produced: dict[str, bytes] = {}
        # One lock per block: keyed by the block's first tile, whichever tile was asked.
        first = self._tile_request(request, block[0])

        def produce() -> bytes:
            produced.update(self._render_block(block, request, params))
            return b"1"

        meta_key = make_key("metatile", {"tile": tile_key(first), "size": len(block)})
        get_or_create(self.cache, meta_key, produce, ttl_ms=self.engine.ttl_ms)
        if key in produced:
            content = produced[key]
            stamp = Stamp.checked(produced[stamp_key(key)], content)
            return Tile(content, media_type, False, stamp, warning)
        hit = self._cached(known)
        # None: rendered elsewhere but not readable (Redis down, evicted).
        return hit if hit is not None else self._rendered(key, request, warning)

    def _rendered(self, key: str, request: RenderRequest, warning: str | None) -> Tile:
        """The tile through ``engine.render`` (its cache, its stamp)."""
        rendered = self.engine.render(request)
        stamp = rendered.stamp or stored_stamp(self.cache, key, rendered.content)
        return Tile(rendered.content, rendered.media_type, rendered.cached, stamp, warning)

    # -- blocks ------------------------------------------------------------------------

    def _tile_request(self, request: RenderRequest, address: TileAddress) -> RenderRequest:
        """``request`` (a tile's) for another tile of the same tile matrix."""
        grid = self.grids[address.tile_matrix_set]
        bbox = grid.tile_bbox(address.x, address.y, address.z)
        width, height = grid.tile_size
        return replace(request, grid=Grid(request.grid.crs, bbox, width, height))

    def _block_origin(self, address: TileAddress) -> TileAddress | None:
        """The first tile of ``address``'s block; None off the grids (``request`` says why)."""
        grid = self.grids.get(address.tile_matrix_set)
        if grid is None or not grid.contains(address.z, address.x, address.y):
            return None
        return self._block(address)[0]

    def _block(self, address: TileAddress) -> list[TileAddress]:
        """The tiles of ``address``'s metatile block (clipped at the matrix edges)."""
        grid = self.grids[address.tile_matrix_set]
        size = block_side(grid, address.z, self.metatile)
        if size <= 1:
            return [address]
        columns, rows = grid.matrix_size(address.z)
        x0, y0 = address.x - address.x % size, address.y - address.y % size
        return [
            address._replace(x=x, y=y)
            for y in range(y0, min(y0 + size, rows))
            for x in range(x0, min(x0 + size, columns))
        ]

    def _render_block(
        self, block: list[TileAddress], request: RenderRequest, params: TileParams
    ) -> dict[str, bytes]:
        """Compute the block once (``request``: one of its tiles'), cut it into tiles, encode
        and cache each; key -> bytes. Each tile's pixels are those of its own render: the
        engine's values do not depend on the window asked (gateway/core/lattice.py)."""
        grid = self.grids[block[0].tile_matrix_set]
        width, height = grid.tile_size
        xs, ys = sorted({a.x for a in block}), sorted({a.y for a in block})
        west, south = grid.tile_bbox(xs[0], ys[-1], block[0].z)[:2]
        east, north = grid.tile_bbox(xs[-1], ys[0], block[0].z)[2:]
        meta = replace(
            request,
            grid=Grid(
                request.grid.crs, (west, south, east, north), width * len(xs), height * len(ys)
            ),
        )
        raster = self.engine.compute(meta)
        out: dict[str, bytes] = {}
        shared: dict[str, bytes] = {}
        for address in block:
            col, row = xs.index(address.x) * width, ys.index(address.y) * height
            data = raster.data[:, row : row + height, col : col + width]
            valid = raster.valid[row : row + height, col : col + width]
            tile_request = self._tile_request(request, address)
            key = tile_key(tile_request)
            out[key] = self.engine.picture(request, data, valid)
            out[stamp_key(key)] = Stamp.of(out[key]).encode()
            # The block's other tiles, asked next, need no render thread (in any process).
            known = self._known(tile_request)
            self._keys.put(self.signature(address, params), known)
            shared.update(self._share(address, params, known))
        self.cache.set_many(out | shared, self.engine.ttl_ms)
        return out


def block_side(grid: TileGrid, z: int, metatile: int = METATILE) -> int:
    """Tiles per side of a metatile block at zoom ``z`` (1: no blocks): ``metatile``, or
    ``METATILE_ZOOMED_IN`` where a tile pixel is ``ZOOMED_IN_M`` or finer."""
    if metatile > 1 and _pixel_metres(grid, z) <= ZOOMED_IN_M:
        return max(metatile, METATILE_ZOOMED_IN)
    return metatile


def _pixel_metres(grid: TileGrid, z: int) -> float:
    """A tile pixel's size at ``z`` in metres (at the equator for geographic grids)."""
    resolution = grid.resolution(z)
    return resolution * METRES_PER_DEGREE if grid.geographic else resolution
