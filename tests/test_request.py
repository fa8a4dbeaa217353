"""Parsing and bounding of the normalised render request."""

from datetime import UTC, datetime

import pytest

from gateway.config import load_config
from gateway.core.request import (
    build_request,
    parse_bbox,
    parse_format,
    parse_maxcc,
    parse_order,
    parse_size,
    parse_time,
)
from gateway.errors import GatewayError, InvalidParameterValue, LimitExceeded, NotFound


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_time_range_with_dates_covers_whole_end_day():
    rng = parse_time("2025-06-01/2025-06-30")
    assert rng.start == datetime(2025, 6, 1, tzinfo=UTC)
    assert rng.end == datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        (
            "2025-06",
            datetime(2025, 6, 1, tzinfo=UTC),
            datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "2024-02",
            datetime(2024, 2, 1, tzinfo=UTC),
            datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "2025",
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "2025-06-13",
            datetime(2025, 6, 13, tzinfo=UTC),
            datetime(2025, 6, 13, 23, 59, 59, 999999, tzinfo=UTC),
        ),
    ],
)
def test_reduced_precision_expands(text, start, end):
    rng = parse_time(text)
    assert (rng.start, rng.end) == (start, end)


def test_datetimes_and_open_ends():
    rng = parse_time("2025-06-01T10:00:00Z/..")
    assert rng.start == datetime(2025, 6, 1, 10, tzinfo=UTC)
    assert rng.end is None
    assert parse_time(None).start is None
    assert parse_time("2025-06-01T10:00:00+02:00").start == datetime(2025, 6, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad", ["yesterday", "2025-13", "2025-06-31", "2025-07-01/2025-06-01", "a/b/c"]
)
def test_bad_time(bad):
    with pytest.raises(InvalidParameterValue) as info:
        parse_time(bad)
    assert info.value.locator == "time"


def test_scalars():
    assert parse_bbox("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)
    assert parse_size("512x256") == (512, 256)
    assert parse_order("leastcc", "mostRecent") == "leastCC"
    assert parse_order(None, "leastRecent") == "leastRecent"
    assert parse_maxcc("30") == 30.0
    assert parse_format("image/png") == "png"
    assert parse_format("tif") == "tiff"


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (parse_bbox, "1,2,3"),
        (parse_bbox, "1,2,3,nan"),
        (parse_bbox, "a,b,c,d"),
        (parse_size, "512"),
        (parse_order, "newest"),
        (parse_maxcc, "101"),
        (parse_maxcc, "x"),
        (parse_format, "image/gif"),
    ],
)
def test_bad_scalars(call, arg):
    with pytest.raises(InvalidParameterValue):
        call(arg) if call is not parse_order else call(arg, "mostRecent")


def _build(config, **kwargs):
    params = {"bbox": (5.9, 52.5, 6.2, 52.7), "crs": "EPSG:4326", "width": 1024, "height": 1024}
    params.update(kwargs)
    return build_request(config, **params)


def test_layer_defaults(config):
    request = _build(config, layer="ndvi", time="2025-06")
    assert request.layer == "NDVI"
    assert request.collection == "sentinel-2-l2a"
    assert request.expression == "(B08-B04)/(B08+B04)"
    assert request.style == "ndvi"
    assert request.cloud_mask is True
    assert request.order == "mostRecent"


def test_expression_request(config):
    request = _build(config, collection="sentinel-2-l2a", expression="B04;B03;B02", format="jpeg")
    assert request.style == "true_color"
    assert request.format == "jpeg"
    assert request.cloud_mask is False


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"layer": "NOPE"}, NotFound),
        ({"collection": "sentinel-9", "expression": "B04"}, NotFound),
        ({"layer": "NDVI", "width": 100000}, LimitExceeded),
        ({"layer": "NDVI", "time": "2020-01-01/2025-01-01"}, LimitExceeded),
        ({"layer": "NDVI", "crs": "EPSG:999999"}, InvalidParameterValue),
        ({"layer": "NDVI", "bbox": (6, 52, 5, 53)}, InvalidParameterValue),
        ({"layer": "NDVI", "style": "nope"}, InvalidParameterValue),
        ({}, InvalidParameterValue),
    ],
)
def test_bad_requests(config, kwargs, error):
    with pytest.raises(error) as info:
        _build(config, **kwargs)
    assert isinstance(info.value, GatewayError)
    assert 400 <= info.value.status < 500


def test_cache_parts_change_with_every_pixel_parameter(config):
    base = _build(config, layer="NDVI", time="2025-06")
    variants = [
        _build(config, layer="NDVI", time="2025-05"),
        _build(config, layer="NDVI", time="2025-06", maxcc=30),
        _build(config, layer="NDVI", time="2025-06", order="leastCC"),
        _build(config, layer="NDVI", time="2025-06", format="webp"),
        _build(config, layer="NDVI", time="2025-06", style="greyscale"),
        _build(config, layer="NDVI", time="2025-06", crs="EPSG:3857", bbox=(0, 0, 1, 1)),
        _build(config, layer="NDVI", time="2025-06", width=512),
        _build(config, layer="NDWI", time="2025-06"),
        _build(config, collection="sentinel-2-l2a", expression="B08/B04", time="2025-06"),
    ]
    keys = {repr(sorted(v.cache_parts().items())) for v in variants}
    keys.add(repr(sorted(base.cache_parts().items())))
    assert len(keys) == len(variants) + 1
