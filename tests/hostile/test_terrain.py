"""Terrain layers (slope, hillshade: a window grown by one pixel, geodesic distances) on the
areas clients send that stress them: the whole world in EPSG:4326 and 3857 (the grown window
runs past the poles and the antimeridian), a polar projection, a pixel at the pole, maps of
one pixel. Each renders a picture, with no warning turned error and no NaN in the bytes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gateway.core.request import build_request
from tests.support.pictures import rgba

WORLD_3857 = (-20037508.34, -20037508.34, 20037508.34, 20037508.34)
AREAS = [
    ("EPSG:4326", (-180.0, -90.0, 180.0, 90.0), 256, 128),
    ("EPSG:3857", WORLD_3857, 256, 256),
    ("EPSG:3031", (-3e6, -3e6, 3e6, 3e6), 64, 64),
    ("EPSG:4326", (179.9, 89.9, 180.0, 90.0), 16, 16),
    ("EPSG:4326", (5.9, 52.5, 6.3, 52.7), 1, 1),
    ("EPSG:32631", (700000.0, 5830000.0, 700030.0, 5830030.0), 3, 3),
]


@pytest.mark.parametrize("layer", ["HILLSHADE", "SLOPE"])
@pytest.mark.parametrize(("crs", "bbox", "width", "height"), AREAS)
def test_terrain_renders_on_stressing_areas(runtime, layer, crs, bbox, width, height):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        request = build_request(
            runtime.config, bbox=bbox, crs=crs, width=width, height=height, layer=layer,
            format="png", preview=2,
        )  # fmt: skip
        picture = rgba(runtime.engine.render(request).content)
        values = runtime.engine.compute(request)
    assert picture.shape == (height, width, 4)
    assert np.isfinite(values.data[0][values.valid]).all()
