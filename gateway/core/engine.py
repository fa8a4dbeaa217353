"""The engine: request -> catalog -> mosaic -> band math -> render -> cache. No protocol inside."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.core.bandmath import Expression, parse_expression
from gateway.core.cache import Cache, get_or_create, make_key
from gateway.core.catalog import Catalog, SearchQuery
from gateway.core.grid import WGS84, Raster
from gateway.core.mosaic import mosaic
from gateway.core.reader import SceneReader
from gateway.core.render import MEDIA_TYPES, colorize, encode_geotiff, encode_image
from gateway.core.request import RenderRequest

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import GatewayConfig

log = logging.getLogger(__name__)

DEFAULT_TTL_MS = 3_600_000


@dataclass(frozen=True)
class Rendered:
    """Encoded bytes of a map and whether they came from the cache."""

    content: bytes
    media_type: str
    cached: bool


class Engine:
    """Turns a RenderRequest into values (``compute``) or encoded bytes (``render``)."""

    def __init__(
        self,
        config: GatewayConfig,
        catalog: Catalog,
        reader: SceneReader,
        cache: Cache | None = None,
        *,
        ttl_ms: int = DEFAULT_TTL_MS,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.reader = reader
        self.cache = cache
        self.ttl_ms = ttl_ms

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

    def search(self, request: RenderRequest) -> list:
        """Scenes that may contribute to the request's grid, in mosaic order."""
        query = SearchQuery(
            collection=request.collection,
            bbox=request.grid.bounds_in(WGS84),
            time=request.time,
            max_cloud_cover=request.max_cloud_cover,
            order=request.order,
            limit=self.config.limits.max_scenes,
        )
        return self.catalog.search(query)

    def mosaic(self, request: RenderRequest, bands: tuple[str, ...]) -> Raster:
        """Reflectance of ``bands`` mosaicked on the request's grid."""
        collection = self.config.collection(request.collection)
        assert collection is not None
        return mosaic(
            self.search(request),
            bands,
            request.grid,
            collection,
            self.reader,
            resampling=request.resampling,
            cloud_mask=request.cloud_mask,
        )

    def compute(self, request: RenderRequest) -> Raster:
        """The expression's output values on the request's grid (NaN where invalid)."""
        expression = self.expression(request)
        source = self.mosaic(request, expression.bands)
        inputs = {name: source.band(name) for name in expression.bands}
        data, valid = expression.evaluate(inputs, source.valid)
        names = (
            tuple(expression.outputs)
            if len(expression.outputs) > 1
            else (request.layer or "value",)
        )
        return Raster(
            data=data,
            valid=valid,
            grid=request.grid,
            band_names=names,
            source=source.source,
            scenes=source.scenes,
        )

    def render(self, request: RenderRequest) -> Rendered:
        """Encoded map bytes, from the cache when present."""
        media_type = MEDIA_TYPES[request.format]
        self.expression(request)  # invalid expressions fail before any cache or read
        if self.cache is None:
            return Rendered(self._encode(request), media_type, cached=False)
        key = make_key("map", request.cache_parts())
        content, hit = get_or_create(
            self.cache, key, lambda: self._encode(request), ttl_ms=self.ttl_ms
        )
        return Rendered(content, media_type, cached=hit)

    def _encode(self, request: RenderRequest) -> bytes:
        raster = self.compute(request)
        if request.format in ("tiff", "cog"):
            return encode_geotiff(
                raster.data,
                raster.valid,
                crs=raster.grid.crs,
                transform=raster.grid.transform,
                cog=request.format == "cog",
                band_names=raster.band_names,
            )
        style = self.config.style(request.style)
        assert style is not None
        return encode_image(colorize(raster.data, raster.valid, style), request.format)
