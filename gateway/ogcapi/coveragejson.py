"""CoverageJSON (https://covjson.org) of a lon/lat raster."""

from __future__ import annotations

from typing import Any

import numpy as np

from gateway.core.grid import Raster


def to_coveragejson(raster: Raster) -> dict[str, Any]:
    """A Coverage with a regular lon/lat Grid domain and one NdArray range per band."""
    minx, miny, maxx, maxy = raster.grid.bounds
    width, height = raster.grid.width, raster.grid.height
    dx, dy = (maxx - minx) / width, (maxy - miny) / height
    parameters: dict[str, Any] = {}
    ranges: dict[str, Any] = {}
    for index, name in enumerate(raster.band_names):
        values = raster.data[index].astype(np.float64)
        values[~(raster.valid & np.isfinite(values))] = np.nan
        parameters[name] = {
            "type": "Parameter",
            "description": {"en": name},
            "observedProperty": {"id": name, "label": {"en": name}},
            "unit": {"symbol": "1"},
        }
        ranges[name] = {
            "type": "NdArray",
            "dataType": "float",
            "axisNames": ["y", "x"],
            "shape": [height, width],
            "values": [None if np.isnan(v) else float(v) for v in values.ravel()],
        }
    return {
        "type": "Coverage",
        "domain": {
            "type": "Domain",
            "domainType": "Grid",
            "axes": {
                "x": {"start": minx + dx / 2, "stop": maxx - dx / 2, "num": width},
                "y": {"start": maxy - dy / 2, "stop": miny + dy / 2, "num": height},
            },
            "referencing": [
                {
                    "coordinates": ["x", "y"],
                    "system": {
                        "type": "GeographicCRS",
                        "id": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                    },
                }
            ],
        },
        "parameters": parameters,
        "ranges": ranges,
    }
