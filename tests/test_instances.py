"""Sentinel Hub-style instance URLs: ``/ogc/{wms,wmts,wcs,wfs}/<instance>`` serve the
instance's layers only, through the same doors, with capabilities pointing back to them."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import yaml
from lxml import etree

from gateway.app import DOORS
from gateway.config import load_config
from tests.support.configs import portable_default_config
from tests.support.ows_live import live_gateway
from tests.support.pictures import rgba

INSTANCE = "0d9e7e3a-5b1c-4c47-9f2e-5a0c0e7f1b2d"  # config/gateway.yaml's sample instance
LAYERS = {"TRUE_COLOR", "NDVI", "NDVI_RAMP", "SCL"}
UTM31 = "700000,5832000,702000,5834000"
CAPABILITIES = {
    "wms": {"SERVICE": "WMS", "REQUEST": "GetCapabilities"},
    "wmts": {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"},
    "wcs": {"SERVICE": "WCS", "REQUEST": "GetCapabilities", "VERSION": "1.0.0"},
    "wfs": {"SERVICE": "WFS", "REQUEST": "GetCapabilities"},
}


@pytest.fixture(scope="module")
def gateway(sample_settings):
    with live_gateway(sample_settings, doors=DOORS) as url:
        yield url


def _getmap(layer: str) -> dict[str, str]:
    return {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer, "STYLES": "",
        "CRS": "EPSG:32631", "BBOX": UTM31, "WIDTH": "64", "HEIGHT": "64",
        "FORMAT": "image/png", "TIME": "2025-06-13",
    }  # fmt: skip


def _names(document: etree._Element, tag: str) -> set[str]:
    return {(e.text or "").strip() for e in document.iter(f"{{*}}{tag}", tag)}


@pytest.mark.parametrize("service", sorted(CAPABILITIES))
def test_capabilities_point_back_to_the_instance(gateway, service):
    response = httpx.get(f"{gateway}/ogc/{service}/{INSTANCE}", params=CAPABILITIES[service])
    assert response.status_code == 200, response.text[:300]
    text = response.text
    assert f"{gateway}/ogc/{service}/{INSTANCE}" in text
    for door in ("wms", "wmts", "wcs", "wfs", "service", "ows"):
        assert f'"{gateway}/{door}?' not in text and f'"{gateway}/{door}"' not in text


def test_wms_capabilities_list_only_the_instance_layers(gateway):
    plain = etree.fromstring(httpx.get(f"{gateway}/wms", params=CAPABILITIES["wms"]).content)
    response = httpx.get(f"{gateway}/ogc/wms/{INSTANCE}", params=CAPABILITIES["wms"])
    document = etree.fromstring(response.content)
    layers = {(n.text or "") for n in document.iterfind(".//{*}Layer/{*}Layer/{*}Name")}
    assert layers == LAYERS
    assert len(plain.findall(".//{*}Layer/{*}Layer")) > len(LAYERS)  # /wms as it was


def test_wcs_capabilities_list_the_instance_coverages(gateway):
    response = httpx.get(f"{gateway}/ogc/wcs/{INSTANCE}", params=CAPABILITIES["wcs"])
    names = _names(etree.fromstring(response.content), "name") - {"WCS"}  # the service's
    assert names == {"sentinel-2-l2a", *(f"sentinel-2-l2a__{n}" for n in LAYERS - {"NDVI_RAMP"})}


def test_getmap_through_the_instance_is_the_door_s_picture(gateway):
    ours = httpx.get(f"{gateway}/ogc/wms/{INSTANCE}", params=_getmap("NDVI"), timeout=60)
    plain = httpx.get(f"{gateway}/wms", params=_getmap("NDVI"), timeout=60)
    assert ours.status_code == 200 and ours.headers["content-type"] == "image/png"
    assert np.array_equal(rgba(ours.content), rgba(plain.content))
    assert len(np.unique(rgba(ours.content).reshape(-1, 4), axis=0)) > 20


def test_wmts_rest_tile_through_the_instance(gateway):
    path = "/1.0.0/NDVI/default/2025-06-13/WebMercatorQuad/12/2114/1347.png"
    ours = httpx.get(f"{gateway}/ogc/wmts/{INSTANCE}{path}", timeout=60)
    plain = httpx.get(f"{gateway}/wmts{path}", timeout=60)
    assert ours.status_code == plain.status_code
    assert ours.content == plain.content


@pytest.mark.parametrize(
    ("service", "params", "code"),
    [
        ("wms", _getmap("NDWI"), "LayerNotDefined"),
        (
            "wcs",
            {
                "SERVICE": "WCS",
                "VERSION": "1.0.0",
                "REQUEST": "DescribeCoverage",
                "COVERAGE": "sentinel-1-grd",
            },
            "CoverageNotDefined",
        ),
        # WMTS has no LayerNotDefined: its InvalidParameterValue, the locator says layer
        (
            "wmts",
            {"SERVICE": "WMTS", "REQUEST": "GetTile", "LAYER": "NDWI"},
            "InvalidParameterValue",
        ),
    ],
)
def test_a_layer_outside_the_instance_gets_the_door_s_exception(gateway, service, params, code):
    response = httpx.get(f"{gateway}/ogc/{service}/{INSTANCE}", params=params)
    assert response.status_code == 404
    assert code in response.text and "not in this instance" in response.text
    etree.fromstring(response.content)  # an exception report, in XML


@pytest.mark.parametrize("service", sorted(CAPABILITIES))
def test_an_unknown_instance_is_the_door_s_404(gateway, service):
    response = httpx.get(f"{gateway}/ogc/{service}/no-such-instance", params=CAPABILITIES[service])
    assert response.status_code == 404
    assert "no instance 'no-such-instance'" in response.text
    etree.fromstring(response.content)


def test_an_unknown_service_under_ogc_is_an_ows_404(gateway):
    response = httpx.get(f"{gateway}/ogc/wps/{INSTANCE}")
    assert response.status_code == 404 and b"ExceptionReport" in response.content


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([{"name": "a", "layers": ["NO_SUCH"]}], "instance a: unknown layer NO_SUCH"),
        ([{"name": "a", "layers": ["ndvi"]}], "instance a: unknown layer ndvi"),
        ([{"name": "a", "layers": ["NDVI"]}] * 2, "instance a is defined twice"),
        ([{"name": "a/b", "layers": ["NDVI"]}], "String should match pattern"),
        ([{"name": "a", "layers": []}], "at least 1 item"),
    ],
)
def test_instances_are_validated_at_load(tmp_path, instances, message):
    raw = portable_default_config()
    raw["instances"] = instances
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_form_posts_are_checked_like_gets(gateway):
    """POST application/x-www-form-urlencoded (scripts overflow URLs): the body's layers are
    the instance's or refused, as in a GET."""
    url = f"{gateway}/ogc/wms/{INSTANCE}"
    refused = httpx.post(url, data=_getmap("NDWI"), timeout=60)
    assert refused.status_code == 404 and "not in this instance" in refused.text
    posted = httpx.post(url, data=_getmap("NDVI"), timeout=60)
    got = httpx.get(url, params=_getmap("NDVI"), timeout=60)
    assert posted.status_code == 200 and np.array_equal(rgba(posted.content), rgba(got.content))
    wcs = {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "DescribeCoverage"}
    described = httpx.post(f"{gateway}/ogc/wcs/{INSTANCE}", data={**wcs, "COVERAGE": "NDVI"})
    assert described.status_code == 200 and b"sentinel-2-l2a__NDVI" in described.content


def test_sentinel_hub_s_shortest_getmap(gateway):
    """Sentinel Hub's documented example: no SERVICE, VERSION, CRS (EPSG:3857) or STYLES."""
    box = "660000,6890000,662000,6892000"
    short = dict(REQUEST="GetMap", BBOX=box, LAYERS="NDVI", MAXCC="20", WIDTH="64",
                 HEIGHT="64", FORMAT="image/png", TIME="2025-06-01/2025-06-30")  # fmt: skip
    ours = httpx.get(f"{gateway}/ogc/wms/{INSTANCE}", params=short, timeout=60)
    full = {**short, "SERVICE": "WMS", "VERSION": "1.3.0", "CRS": "EPSG:3857", "STYLES": ""}
    plain = httpx.get(f"{gateway}/wms", params=full, timeout=60)
    assert ours.status_code == plain.status_code == 200, ours.text[:300]
    assert np.array_equal(rgba(ours.content), rgba(plain.content))
    del full["STYLES"]  # the plain door too: the default style (MapProxy answered 500)
    assert httpx.get(f"{gateway}/wms", params=full, timeout=60).content == plain.content
