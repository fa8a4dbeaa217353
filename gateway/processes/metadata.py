"""OGC API Processes descriptions (inputs and outputs as JSON Schema)."""

from __future__ import annotations

from typing import Any

from gateway.core.sar import BACK_COEFFS, ORBIT_DIRECTIONS

# The CRS forms a process accepts: EPSG codes, OGC URNs and URIs of them, and CRS84. Nothing
# else reaches the CRS parser (no WKT or PROJ strings, no file names, no URLs).
CRS_PATTERN = (
    r"^(?:(?:EPSG|epsg):[0-9]{1,6}|CRS:84|OGC:CRS84"
    r"|urn:(?:ogc|x-ogc):def:crs:(?:EPSG:[0-9.]*:[0-9]{1,6}|OGC:1\.3:CRS84)"
    r"|https?://www\.opengis\.net/def/crs/(?:EPSG/[0-9]+/[0-9]{1,6}|OGC/1\.3/CRS84))$"
)
MIN_RESOLUTION = 0.01
MAX_RESOLUTION = 100_000.0  # in CRS units: 100 km

_AREA = {
    "bbox": {
        "title": "Bounding box",
        "description": "minx, miny, maxx, maxy in `crs` (give bbox or geometry)",
        "schema": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "geometry": {
        "title": "Polygon",
        "description": "a GeoJSON Polygon or MultiPolygon in `crs`",
        "schema": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"type": "string", "enum": ["Polygon", "MultiPolygon"]},
                "coordinates": {"type": "array"},
            },
        },
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "crs": {
        "title": "CRS of the area",
        "description": "an EPSG code (EPSG:32631), an OGC URN or URI of one, or CRS:84 (the "
        "default); a geographic CRS is computed in the UTM zone of the area",
        "schema": {"type": "string", "default": "CRS:84", "pattern": CRS_PATTERN},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "resolution": {
        "title": "Resolution",
        "description": "pixel size in the units of the computation CRS (metres for UTM)",
        "schema": {
            "type": "number",
            "default": 10,
            "minimum": MIN_RESOLUTION,
            "maximum": MAX_RESOLUTION,
        },
        "minOccurs": 0,
        "maxOccurs": 1,
    },
}

_SOURCE = {
    "expression": {
        "title": "Expression",
        "description": "band math such as (B08-B04)/(B08+B04), or an index layer name (NDVI); "
        "required unless evalscript is given",
        "schema": {"type": "string"},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "evalscript": {
        "title": "Evalscript",
        "description": "a Sentinel Hub evalscript V3 (its text, or base64) in place of the "
        "expression: every output's bands, as float32",
        "schema": {"type": "string", "maxLength": 140_000},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "collection": {
        "title": "Collection",
        "schema": {"type": "string", "default": "sentinel-2-l2a", "maxLength": 100},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "time": {
        "title": "Time range",
        "description": "start/end (ISO 8601), or a date; none: the default period (as TIME)",
        "schema": {"type": "string", "maxLength": 100},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "maxcc": {
        "title": "Maximum cloud cover (%)",
        "schema": {"type": "number", "minimum": 0, "maximum": 100},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "order": {
        "title": "Mosaic order",
        "schema": {"type": "string", "enum": ["mostRecent", "leastRecent", "leastCC"]},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "resampling": {
        "title": "Resampling",
        "schema": {"type": "string", "enum": ["nearest", "bilinear", "cubic", "average"]},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "cloud_mask": {
        "title": "Mask clouds with SCL",
        "schema": {"type": "boolean"},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "orbit_direction": {
        "title": "Orbit direction (Sentinel-1)",
        "description": "scenes of one pass only (ORBITDIRECTION); none: both",
        "schema": {"type": "string", "enum": list(ORBIT_DIRECTIONS)},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "back_coeff": {
        "title": "Backscatter coefficient (Sentinel-1)",
        "schema": {"type": "string", "enum": list(BACK_COEFFS), "default": "SIGMA0_ELLIPSOID"},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
    "noise_removal": {
        "title": "Thermal noise removal (Sentinel-1)",
        "schema": {"type": "boolean", "default": True},
        "minOccurs": 0,
        "maxOccurs": 1,
    },
}

_EXAMPLE_AREA = {"bbox": [5.93, 52.57, 5.98, 52.60]}


def _process(
    pid: str, title: str, description: str, inputs: dict, outputs: dict, example: dict
) -> dict:
    return {
        "version": "1.0.0",
        "id": pid,
        "title": {"en": title},
        "description": {"en": description},
        "jobControlOptions": ["sync-execute", "async-execute"],
        "keywords": ["Sentinel-2", "Copernicus"],
        "links": [],
        "inputs": inputs,
        "outputs": outputs,
        "example": {"inputs": example},
    }


METADATA: dict[str, dict[str, Any]] = {
    "statistics": _process(
        "statistics",
        "Statistics per interval",
        "Per aggregation interval over a polygon: mean, std, min, max, percentiles and "
        "histogram of an expression, with SCL cloud masking and valid pixel counts "
        "(as Sentinel Hub's Statistical API).",
        {
            **_SOURCE,
            **_AREA,
            "aggregation_interval": {
                "title": "Aggregation interval",
                "description": "ISO 8601 duration: P10D, P1M, P1W, P1Y",
                "schema": {"type": "string", "default": "P1M", "maxLength": 20},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "percentiles": {
                "title": "Percentiles",
                "schema": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0, "maximum": 100},
                    "minItems": 1,
                    "maxItems": 20,
                },
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "histogram": {
                "title": "Histogram",
                "description": "{bins, low, high}",
                "schema": {
                    "type": "object",
                    "properties": {
                        "bins": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "low": {"type": "number"},
                        "high": {"type": "number"},
                    },
                    "additionalProperties": False,
                },
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "format": {
                "title": "Output format",
                "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
        },
        {
            "statistics": {
                "title": "Statistics",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            }
        },
        {
            "expression": "NDVI",
            "time": "2025-06-01/2025-06-30",
            "aggregation_interval": "P10D",
            **_EXAMPLE_AREA,
        },
    ),
    "band-math": _process(
        "band-math",
        "Band math",
        "An expression or index over an area and time range, as a COG, a PNG or a JSON summary.",
        {
            **_SOURCE,
            **_AREA,
            "format": {
                "title": "Output format",
                "schema": {"type": "string", "enum": ["cog", "png", "json"], "default": "cog"},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
            "style": {
                "title": "Style of a PNG",
                "schema": {"type": "string", "maxLength": 100},
                "minOccurs": 0,
                "maxOccurs": 1,
            },
        },
        {
            "result": {
                "title": "Result",
                "schema": {"type": "string", "contentMediaType": "image/tiff; application=geotiff"},
            }
        },
        {
            "expression": "(B08-B04)/(B08+B04)",
            "time": "2025-06-13",
            "format": "json",
            **_EXAMPLE_AREA,
        },
    ),
    "export": _process(
        "export",
        "Export a mosaic as a COG",
        "A mosaic of bands or an index over an area as a Cloud-Optimized GeoTIFF written to the "
        "gateway's output storage; returns its href.",
        {**_SOURCE, **_AREA},
        {
            "href": {
                "title": "Where the COG is",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            }
        },
        {"expression": "B04;B03;B02", "time": "2025-06-13", **_EXAMPLE_AREA},
    ),
}
