"""The engine: request -> catalog -> mosaic -> band math -> render -> cache. No protocol inside."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from gateway.context import charge
from gateway.core.acquisitions import describe, group_scenes, read_acquisitions
from gateway.core.admission import Admission, RequestTicket
from gateway.core.bandmath import Expression, parse_expression
from gateway.core.cache import Cache, get_or_create, make_key
from gateway.core.catalog import CatalogBackend, Scene, SearchQuery, TimeRange
from gateway.core.grid import Raster
from gateway.core.mosaic import mosaic, search_bounds
from gateway.core.phases import BAND_MATH, CATALOG, READ, phase
from gateway.core.preview import bound_scenes, bounded_count
from gateway.core.reader import SceneReader
from gateway.core.render import (
    IMAGE_FORMATS,
    MEDIA_TYPES,
    check_style_bands,
    colorize,
    encode_geotiff,
    encode_image,
)
from gateway.core.request import RenderRequest
from gateway.core.scripts import PixelScript, check_script, raw_dn, script_picture
from gateway.core.shparams import inside
from gateway.core.stamps import Stamp, stamp_key
from gateway.core.terrain import Terrain, padded, terrain
from gateway.core.units import processing_units
from gateway.errors import LimitExceeded

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import GatewayConfig

log = logging.getLogger(__name__)

FLOAT_FORMATS = frozenset({"tiff", "cog"})  # float32 values: twice the processing units

DEFAULT_TTL_MS = 3_600_000


@dataclass(frozen=True)
class Rendered:
    """Encoded bytes of a map and whether they came from the cache (``stamp``: when they
    were rendered now, as stored next to them)."""

    content: bytes
    media_type: str
    cached: bool
    stamp: Stamp | None = None


class Engine:
    """Turns a RenderRequest into values (``compute``) or encoded bytes (``render``).

    Before reading a pixel, every request's work (``work``) is checked against
    ``limits.max_work`` and, when large, admitted through ``admission`` (a place held until
    the request ends: ``gateway.core.admission``). Every render, and every answer from the
    cache, charges its processing units (``units``) to the request's meter
    (``gateway.context.charge``).
    """

    def __init__(
        self,
        config: GatewayConfig,
        catalog: CatalogBackend,
        reader: SceneReader,
        cache: Cache | None = None,
        *,
        ttl_ms: int = DEFAULT_TTL_MS,
        admission: Admission | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.reader = reader
        self.cache = cache
        self.ttl_ms = ttl_ms
        self.admission = admission

    def expression(self, request: RenderRequest) -> Expression:
        """Parse and validate the request's expression against its collection's bands."""
        collection = self.config.collection(request.collection)
        assert collection is not None  # build_request checked it
        limits = self.config.limits
        return parse_expression(
            request.expression,
            collection.bands,
            max_length=limits.max_expression_length,
            max_nodes=limits.max_expression_nodes,
            max_outputs=limits.max_outputs,
        )

    def check(self, request: RenderRequest) -> tuple[str, ...]:
        """The bands ``request`` reads, once its expression is valid and, for a picture, its
        style can show the outputs; or once its script reads only the collection's bands
        (InvalidParameterValue, locator ``expression`` or ``evalscript``, before any read)."""
        if request.script is not None:
            return check_script(self.config, request)
        expression = self.expression(request)
        if request.format in IMAGE_FORMATS:
            style = self.config.style(request.style)
            assert style is not None  # build_request checked it
            check_style_bands(style, len(expression.outputs), locator="expression")
        return expression.bands

    def input_bands(self, request: RenderRequest) -> tuple[str, ...]:
        """The bands the request's script or expression reads."""
        if request.script is not None:
            return request.script.bands
        return self.expression(request).bands

    def search(self, request: RenderRequest, bands: tuple[str, ...] = ()) -> list:
        """Scenes that may contribute to the request's grid, in mosaic order; given the
        ``bands`` to read, the catalog may leave out the assets of others. A ``timeless``
        collection's scenes are found whatever their dates (CDSE dates each DEM cell by its
        own acquisitions, years apart); the area searched is the grid's grown by the
        collection's ``footprint_pad``."""
        with phase(CATALOG):
            return self.catalog.search(self._query(request, bands, self.config.limits.max_scenes))

    def _query(self, request: RenderRequest, bands: tuple[str, ...], limit: int) -> SearchQuery:
        collection = self.config.collection(request.collection)
        timeless = collection is not None and collection.timeless
        return SearchQuery(
            collection=request.collection,
            bbox=search_bounds(request.grid, collection),
            time=TimeRange() if timeless else request.time,
            max_cloud_cover=request.max_cloud_cover,
            order=request.order,
            limit=limit,
            bands=self.item_bands(request, self.bands_read(request, bands)) if bands else (),
            orbit_state=request.sar.orbit_direction.lower()
            if request.sar.orbit_direction
            else None,
        )

    def bands_read(self, request: RenderRequest, bands: tuple[str, ...]) -> tuple[str, ...]:
        """``bands`` and the cloud-mask band when the request masks clouds."""
        collection = self.config.collection(request.collection)
        mask = collection.cloud_mask if collection is not None else None
        if request.cloud_mask and mask is not None and mask.band not in bands:
            return (*bands, mask.band)
        return bands

    def item_bands(self, request: RenderRequest, bands: tuple[str, ...]) -> tuple[str, ...]:
        """``bands`` as the collection's items name them (``CollectionConfig.item_band``)."""
        collection = self.config.collection(request.collection)
        return bands if collection is None else tuple(map(collection.item_band, bands))

    def work(self, request: RenderRequest, bands: tuple[str, ...], scenes: int) -> int:
        """The cost of a request: output pixels x bands read x scenes that may be read."""
        grid = request.grid
        return grid.width * grid.height * len(self.bands_read(request, bands)) * scenes

    def units(self, request: RenderRequest, bands: tuple[str, ...] | None = None) -> float:
        """The processing units of rendering ``request`` (from ``bands``; by default its
        expression's), as ``gateway.core.units`` counts them."""
        if bands is None:
            bands = self.input_bands(request)
        grid = request.grid
        return processing_units(
            grid.width,
            grid.height,
            len(self.bands_read(request, bands)),
            float_output=request.format in FLOAT_FORMATS,
        )

    def charge_cached(self, request: RenderRequest) -> None:
        """Charge ``request`` as answered from the cache (what a door that reads the cache
        itself, without ``render``, calls for each hit)."""
        charge(self.units(request), cached=True)

    def admit(self, requests: list[RenderRequest]) -> None:
        """Check the work of ``requests`` (one map of several layers) and admit them as one,
        before anything reads them (the WMS door, ahead of MapProxy). Without searching when
        neither bound can be reached however many scenes the catalog holds."""
        most = [self.work(r, self.input_bands(r), self._most_scenes(r)) for r in requests]
        small = self.admission is None or sum(most) < self.admission.min_work
        if small and max(most, default=0) <= self.config.limits.max_work:
            return
        with RequestTicket():
            total = 0
            for request in requests:
                total += self._checked_work(request, self.input_bands(request))[0]
            if self.admission is not None:
                self.admission.admit(total)

    def _checked_work(
        self, request: RenderRequest, bands: tuple[str, ...]
    ) -> tuple[int, list[Scene]]:
        """The request's work and scenes (a preview's first ones: ``gateway.core.preview``);
        LimitExceeded above ``limits.max_work``."""
        scenes = bound_scenes(self.config.preview, request.preview, self.search(request, bands))
        work = self.work(request, bands, len(scenes))
        limit = self.config.limits.max_work
        if work > limit:
            raise LimitExceeded(
                f"the request would read {work:,} pixel values (pixels x bands x scenes), "
                f"more than the limit of {limit:,}: ask for fewer pixels or bands, or a "
                "shorter time or lower MAXCC",
                locator="size",
            )
        return work, scenes

    def _admitted(self, request: RenderRequest, bands: tuple[str, ...]) -> list[Scene]:
        """The request's scenes, once its work is checked and, if large, admitted."""
        work, scenes = self._checked_work(request, bands)
        self._admit(work)
        return scenes

    def _mosaic_scenes(self, request: RenderRequest, bands: tuple[str, ...]) -> Iterable[Scene]:
        """The scenes a mosaic may read, in order. When even ``max_scenes`` of them keep the
        work under ``limits.max_work``, they are fetched as the mosaic takes them: the catalog's
        first page (at most ``limits.first_scenes``; fewer where the search cache shares a
        cell's), the next only if those leave pixels unfilled (a tile over a dense catalog
        mostly needs a few of its 12-40). Else all are found and counted first."""
        limits = self.config.limits
        most = self._most_scenes(request)
        if self.work(request, bands, most) > limits.max_work:
            return self._admitted(request, bands)
        with phase(CATALOG):
            pages = self.catalog.stream(self._query(request, bands, most), limits.first_scenes)
            head = next(pages, [])
        self._admit(self.work(request, bands, len(head)))  # before any read
        rest = chain.from_iterable(pages)
        return chain(head, self._admitting(request, bands, rest, len(head)))

    def _most_scenes(self, request: RenderRequest) -> int:
        """The most scenes ``request`` may read (``limits.max_scenes``, a preview's fewer)."""
        return bounded_count(self.config.preview, request.preview, self.config.limits.max_scenes)

    def _admitting(
        self, request: RenderRequest, bands: tuple[str, ...], found: Iterator[Scene], count: int
    ) -> Iterator[Scene]:
        """The scenes ``found`` holds after the ``count`` taken already, the request admitted
        by its work so far before each is read (their pages' time counts as catalog, and as
        read: they are fetched while the mosaic reads)."""
        while True:
            with phase(CATALOG):
                scene = next(found, None)
            if scene is None:
                return
            count += 1
            self._admit(self.work(request, bands, count))
            yield scene

    def _admit(self, work: int) -> None:
        if self.admission is not None:
            self.admission.admit(work)

    def mosaic(self, request: RenderRequest, bands: tuple[str, ...]) -> Raster:
        """Reflectance of ``bands`` mosaicked on the request's grid."""
        with RequestTicket():
            raster = self._mosaic(request, bands, self._mosaic_scenes(request, bands))
        charge(self.units(request, bands))
        return raster

    def _mosaic(
        self, request: RenderRequest, bands: tuple[str, ...], scenes: Iterable[Scene]
    ) -> Raster:
        collection = self.config.collection(request.collection)
        assert collection is not None
        with phase(READ):
            return mosaic(
                scenes,
                bands,
                request.grid,
                collection,
                self.reader,
                resampling=request.resampling,
                cloud_mask=request.cloud_mask,
                sar=request.sar,
            )

    def compute(self, request: RenderRequest) -> Raster:
        """The expression's output values on the request's grid (NaN where invalid), or the
        values of the script's map output; outside the request's GEOMETRY, no data (and a
        script's picture bands 0: transparent where it has alpha)."""
        raster = self._compute(request)
        if request.geometry is None:
            return raster
        kept = inside(request.geometry, raster.grid)
        data = raster.data.copy()
        data[:, ~kept] = np.nan if data.dtype.kind == "f" else 0
        return replace(raster, data=data, valid=raster.valid & kept)

    def _compute(self, request: RenderRequest) -> Raster:
        if request.script is not None:
            return self._compute_script(request, request.script)
        if request.terrain is not None:
            return self._compute_terrain(request, request.terrain)
        with RequestTicket():
            expression = self.expression(request)
            scenes = self._mosaic_scenes(request, expression.bands)
            source = self._mosaic(request, expression.bands, scenes)
            inputs = {name: source.band(name) for name in expression.bands}
            with phase(BAND_MATH):
                data, valid = expression.evaluate(inputs, source.valid)
        charge(self.units(request, expression.bands))
        names = tuple(expression.outputs)
        if len(names) == 1 and self._layer_expression(request) == expression.source:
            names = (str(request.layer),)  # the layer's own value, by its name
        return Raster(
            data=data,
            valid=valid,
            grid=request.grid,
            band_names=names,
            source=source.source,
            scenes=source.scenes,
        )

    def _compute_terrain(self, request: RenderRequest, kind: Terrain) -> Raster:
        """The layer's slope or hillshade: its heights computed on the grid grown by one pixel
        (the same lattice, so every window sees the same neighbours), then the inside."""
        heights = self._compute(replace(request, grid=padded(request.grid), terrain=None))
        with phase(BAND_MATH):
            data, valid = terrain(kind, heights.data[0], heights.valid, heights.grid)
        inside = (slice(1, -1), slice(1, -1))
        return Raster(
            data=data[None],
            valid=valid,
            grid=request.grid,
            band_names=(request.layer or kind,),
            source=heights.source[inside] if heights.source is not None else None,
            scenes=heights.scenes,
        )

    def _compute_script(self, request: RenderRequest, script: PixelScript) -> Raster:
        collection = self.config.collection(request.collection)
        assert collection is not None
        with RequestTicket():
            if script.mosaicking == "SIMPLE":
                scenes = self._mosaic_scenes(request, script.bands)
                source = self._mosaic(request, script.bands, scenes)
                inputs = {name: source.band(name) for name in script.bands}
                valid, used, origin = source.valid, source.scenes, source.source
                described, offsets = None, None
                if script.raw_dn_bands and source.source is not None:
                    offsets = raw_dn(script.raw_dn_bands, source.source, used, collection)
            else:  # a list of samples per pixel: one raster per acquisition
                groups = group_scenes(self._admitted(request, script.bands), script.mosaicking)
                kept = script.kept_scenes(
                    describe(groups, script.mosaicking), request.time.start, request.time.end
                )
                stack = read_acquisitions(
                    [groups[i] for i in kept],
                    script.bands,
                    lambda group: self._mosaic(request, script.bands, group),
                    (request.grid.height, request.grid.width),
                )
                inputs, valid = stack.bands, stack.valid
                used, origin = tuple(s for g in stack.groups for s in g), None
                key = "orbits" if script.mosaicking == "ORBIT" else "tiles"
                described = {key: describe(stack.groups, script.mosaicking)}
                offsets = None
                if script.raw_dn_bands:  # each acquisition's first scene's
                    first = tuple(g[0] for g in stack.groups)
                    index = np.arange(len(first))[:, None, None] * np.ones_like(valid, np.int16)
                    offsets = raw_dn(script.raw_dn_bands, index, first, collection)
            classes = collection.categorical_bands  # SCL: its DN are the classes, as read
            with phase(BAND_MATH):
                # a picture: the map output; data: every output
                picture = request.format in IMAGE_FORMATS
                data, names = script.values(
                    inputs, valid, described, offsets, classes, picture=picture
                )
        charge(self.units(request, script.bands))
        return Raster(
            data=data,
            valid=valid if valid.ndim == 2 else valid.any(axis=0),
            grid=request.grid,
            band_names=names,
            source=origin,
            scenes=used,
        )

    def _layer_expression(self, request: RenderRequest) -> str | None:
        layer = self.config.layer(request.layer) if request.layer else None
        return layer.expression.strip() if layer else None

    def render(self, request: RenderRequest) -> Rendered:
        """Encoded map bytes, from the cache when present."""
        media_type = MEDIA_TYPES[request.format]
        bands = self.check(request)  # invalid expressions fail before any cache or read
        if self.cache is None:
            return Rendered(self._encode(request), media_type, cached=False)
        key = make_key("map", request.cache_parts())
        content, hit = get_or_create(
            self.cache, key, lambda: self._encode(request), ttl_ms=self.ttl_ms
        )
        if hit:
            charge(self.units(request, bands), cached=True)
            return Rendered(content, media_type, cached=True)
        stamp = Stamp.of(content)
        self.cache.set(stamp_key(key), stamp.encode(), self.ttl_ms)
        return Rendered(content, media_type, cached=False, stamp=stamp)

    def _encode(self, request: RenderRequest) -> bytes:
        with RequestTicket():  # the admitted place is held while encoding too
            return self._encoded(request, self.compute(request))

    def _encoded(self, request: RenderRequest, raster: Raster) -> bytes:
        if request.format in ("tiff", "cog"):
            return encode_geotiff(
                raster.data.astype(np.float32, copy=False),
                raster.valid,
                crs=raster.grid.crs,
                transform=raster.grid.transform,
                cog=request.format == "cog",
                band_names=raster.band_names,
            )
        return self.picture(request, raster.data, raster.valid)

    def picture(self, request: RenderRequest, data: np.ndarray, valid: np.ndarray) -> bytes:
        """The encoded picture of ``compute``'s values (or a window of them): the script's
        bands, else the style's colours."""
        if request.script is not None:
            return encode_image(script_picture(data), request.format, quality=request.quality)
        style = self.config.style(request.style)
        assert style is not None  # build_request checked it
        return encode_image(colorize(data, valid, style), request.format, quality=request.quality)
