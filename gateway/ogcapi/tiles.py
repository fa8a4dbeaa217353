"""OGC API Tiles provider: PNG tiles of a layer through the engine (and its tile cache)."""

from __future__ import annotations

from typing import Any

import morecantile
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.tile import BaseTileProvider, ProviderTileNotFoundError

from gateway.core.request import build_request
from gateway.ogcapi.context import query_param
from gateway.ogcapi.errors import gateway_errors
from gateway.ogcapi.registry import get_runtime

TILE_SIZE = 256
SCHEMES = ("WebMercatorQuad", "WorldCRS84Quad")


class EngineTileProvider(BaseTileProvider):
    """``data`` is a layer name; tiles honour ``datetime``, ``maxcc`` and ``order`` parameters."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.tile_type = "raster"

    def get_layer(self) -> str:
        return str(self.data)

    def get_fields(self) -> dict[str, Any]:
        return {}

    def get_tiling_schemes(self) -> list[Any]:
        return [e.value for e in TileMatrixSetEnum if e.value.tileMatrixSet in SCHEMES]

    def get_tiles_service(
        self,
        baseurl: str | None = None,
        servicepath: str | None = None,
        dirpath: str | None = None,
        tile_type: str | None = None,
    ) -> dict[str, Any]:
        return {
            "links": [
                {
                    "type": self.mimetype,
                    "rel": "item",
                    "title": "This collection as image tiles",
                    "href": servicepath,
                    "templated": True,
                }
            ]
        }

    def get_metadata(
        self,
        dataset: str,
        server_url: str,
        layer: str | None = None,
        tileset: str | None = None,
        metadata_format: str | None = None,
        title: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if tileset not in SCHEMES:
            raise NotFoundTileset()
        url = f"{server_url}/collections/{dataset}/tiles/{tileset}"
        return {
            "title": title,
            "description": description,
            "dataType": "map",
            "crs": morecantile.tms.get(tileset).crs.root,
            "tileMatrixSetURI": self.get_tilematrixset(tileset).tileMatrixSetURI,
            "links": [
                {
                    "rel": "item",
                    "type": self.mimetype,
                    "href": f"{url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}?f=png",
                    "templated": True,
                }
            ],
        }

    @gateway_errors
    def get_tiles(
        self,
        layer: str | None = None,
        tileset: str | None = None,
        z: int | str | None = None,
        y: int | str | None = None,
        x: int | str | None = None,
        format_: str | None = None,
    ) -> bytes:
        if tileset not in SCHEMES:
            raise NotFoundTileset()
        tms = morecantile.tms.get(tileset)
        try:
            zi, yi, xi = int(z), int(y), int(x)  # type: ignore[arg-type]
            matrix = tms.matrix(zi)
        except (TypeError, ValueError, IndexError):
            raise ProviderTileNotFoundError(user_msg="no such tile") from None
        if not (0 <= xi < matrix.matrixWidth and 0 <= yi < matrix.matrixHeight and zi <= 24):
            raise ProviderTileNotFoundError(user_msg="no such tile")
        bounds = tms.xy_bounds(xi, yi, zi)
        runtime = get_runtime()
        request = build_request(
            runtime.config,
            bbox=(bounds.left, bounds.bottom, bounds.right, bounds.top),
            crs="EPSG:3857" if tileset == "WebMercatorQuad" else "EPSG:4326",
            width=TILE_SIZE,
            height=TILE_SIZE,
            layer=str(self.data),
            format="png",
            time=query_param("datetime"),
            maxcc=query_param("maxcc"),
            order=query_param("order"),
            resampling=query_param("resampling"),
        )
        return runtime.engine.render(request).content


class NotFoundTileset(ProviderTileNotFoundError):
    default_msg = "unknown tile matrix set"
