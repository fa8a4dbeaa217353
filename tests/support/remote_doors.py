"""Each door asked the same twice: of a gateway on the sample and of one on S3 + STAC API.

``DOOR_REQUESTS`` are (path, query) pairs for WMS, WMTS, WCS, WFS and OGC API Coverages;
``decode`` turns an answer into what must be equal between the two gateways (pixels and
georeferencing, or features). Each request reads some band file no earlier one read (the
WMS map, which reads the most, comes last), so every answer needs the bucket again.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import rasterio
from PIL import Image

L2A = "sentinel-2-l2a"
# lon 5.99–6.16, lat 52.605–52.65 in EPSG:3857: across the UTM 31/32 boundary at 6°E.
WMS_BBOX = "666803.75,6910265.24,685728.06,6918517.99"
WMTS_TILE = (14, 8469, 5368)  # z, x, y: over T32ULD, south of the WMS map


@dataclass(frozen=True)
class DoorRequest:
    """One GET against a door, and how its answer is decoded."""

    path: str
    params: dict[str, Any]
    kind: str  # "png", "geotiff" or "geojson"
    reads_pixels: bool = True


DOOR_REQUESTS: dict[str, DoorRequest] = {
    "wmts-rest-true-colour-z14": DoorRequest(
        "/wmts/1.0.0/TRUE_COLOR/WebMercatorQuad/2025-05-29/{}/{}/{}.png".format(*WMTS_TILE),
        {},
        "png",
    ),
    "wmts-kvp-true-colour-z14": DoorRequest(
        "/ows",
        {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "TRUE_COLOR",
         "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": "14",
         "TILECOL": str(WMTS_TILE[1] - 1), "TILEROW": str(WMTS_TILE[2]),
         "FORMAT": "image/png", "TIME": "2025-06-23"},
        "png",
    ),
    "wcs-getcoverage-ndvi-geotiff": DoorRequest(
        "/ows",
        {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
         "COVERAGEID": f"{L2A}__NDVI", "SUBSETTINGCRS": "EPSG:32631",
         "SUBSET": ["E(700000,702000)", "N(5832000,5834000)", 'time("2025-06-13")'],
         "FORMAT": "image/tiff"},
        "geotiff",
    ),
    "wcs-getcoverage-bands-geotiff": DoorRequest(
        "/ows",
        {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage", "COVERAGEID": L2A,
         "SUBSETTINGCRS": "EPSG:32632", "OUTPUTCRS": "EPSG:3857",
         "SUBSET": ["E(304000,306000)", "N(5836000,5838000)", 'time("2025-06-03")'],
         "RANGESUBSET": "B04,B08", "FORMAT": "image/tiff"},
        "geotiff",
    ),
    "wfs-getfeature-geojson": DoorRequest(
        "/ows",
        {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
         "TYPENAMES": f"cdse:{L2A}", "OUTPUTFORMAT": "application/json"},
        "geojson",
        reads_pixels=False,
    ),
    "ogcapi-coverage-bands-geotiff": DoorRequest(
        f"/ogcapi/collections/{L2A}/coverage",
        {"f": "GTiff", "properties": "B08,B04", "bbox": "6.16,52.655,6.21,52.675",
         "datetime": "2025-06-23", "scale-size": "Lon(200),Lat(120)"},
        "geotiff",
    ),
    "wms-getmap-ndvi-png": DoorRequest(
        "/ows",
        {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
         "STYLES": "", "CRS": "EPSG:3857", "BBOX": WMS_BBOX, "WIDTH": "458", "HEIGHT": "200",
         "FORMAT": "image/png", "TRANSPARENT": "TRUE", "TIME": "2025-06"},
        "png",
    ),
}  # fmt: skip


@dataclass
class Decoded:
    """What must match: pixel arrays and georeferencing, or the features' JSON."""

    media_type: str
    arrays: np.ndarray | None = None
    georef: tuple | None = None
    features: list[dict] | None = None


def fetch(base_url: str, request: DoorRequest) -> httpx.Response:
    response = httpx.get(base_url + request.path, params=request.params, timeout=120)
    assert response.status_code == 200, response.text[:500]
    return response


def decode(response: httpx.Response, kind: str) -> Decoded:
    media_type = response.headers["content-type"]
    if kind == "png":
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGBA"))  # a palette image: compare colours
        return Decoded(media_type, arrays=pixels, georef=(image.mode, image.size))
    if kind == "geotiff":
        with rasterio.MemoryFile(response.content) as memory, memory.open() as src:
            nodata = repr(src.nodata)  # NaN != NaN, its text is equal
            georef = (src.crs, src.transform, src.width, src.height, nodata, src.dtypes)
            return Decoded(media_type, arrays=src.read(), georef=georef)
    body = json.loads(response.content)
    return Decoded(media_type, features=body["features"], georef=body.get("numberMatched"))


def cold(data_dir: Path) -> None:
    """Delete the remote gateway's COG copies of JPEG 2000 bands, so reads go to the bucket."""
    shutil.rmtree(data_dir / "cog-cache", ignore_errors=True)
