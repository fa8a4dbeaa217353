"""OGC API Tiles provider: PNG tiles of a layer through the core's tile service.

A tile is asked of the tile service every door shares (``runtime.tiles``), by the same address
and parameters as the WMTS door's tile of the same layer, tile matrix set and z/x/y: the same
engine request and cache key, rendered with its metatile block, and while its block renders
for another request (of either door) in this process, waited for rather than rendered again.
"""

from __future__ import annotations

from typing import Any

import morecantile
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.tile import BaseTileProvider, ProviderTileNotFoundError

from gateway.context import current
from gateway.core.sar import sar_texts
from gateway.core.tiles.grids import TileAddress
from gateway.core.tiles.service import TileParams
from gateway.ogcapi.errors import gateway_errors
from gateway.registry import BuiltOnce, runtime_for

SCHEMES = ("WebMercatorQuad", "WorldCRS84Quad")


class EngineTileProvider(BaseTileProvider, metaclass=BuiltOnce):
    """``data`` is a layer name; tiles honour ``datetime``, ``maxcc``, ``order`` and
    ``resampling`` parameters."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.tile_type = "raster"
        self.runtime = runtime_for(provider_def)
        self.tiles = self.runtime.tiles

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
        try:
            zi, yi, xi = int(z), int(y), int(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ProviderTileNotFoundError(user_msg="no such tile") from None
        if not self.tiles.grids[tileset].contains(zi, xi, yi):
            raise ProviderTileNotFoundError(user_msg="no such tile")
        address = TileAddress(str(self.data), tileset, zi, xi, yi, "png")
        params = TileParams(
            time=current().param("datetime"),
            maxcc=current().param("maxcc"),
            priority=current().param("order"),
            resampling=current().param("resampling"),
            preview=current().param("preview"),
            sar=sar_texts(current().param),
            evalscript=current().param("evalscript"),
        )
        return self.tiles.render(address, params).content


class NotFoundTileset(ProviderTileNotFoundError):
    default_msg = "unknown tile matrix set"
