"""The viewer at ``/`` in Debian's headless Chromium (driven by Playwright, no downloaded browser).

Checks that it builds its layer and date lists from the WMTS capabilities, loads tiles, draws
a map that is not blank, and that date, MAXCC and expression reach the tile requests.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from gateway.runtime import build_runtime
from tests.support.expected import load_items
from tests.support.mapproxy_live import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def live(sample_settings):
    runtime = build_runtime(sample_settings)
    server = LiveServer(runtime).start()
    yield server
    server.stop()
    runtime.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _wait_for_tiles(page) -> None:
    page.wait_for_selector("body[data-tiles='loaded']", timeout=60_000)


def _map_pixels(page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB"))


def _green(pixels: np.ndarray) -> float:
    """Share of pixels of NDVI's green ramp (vegetation): green well above red and blue."""
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return float(((g - r > 25) & (g - b > 25)).mean())


def test_viewer_shows_ndvi_tiles_from_the_wmts(live, browser, sample_archive):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    tiles: list[str] = []
    page.on("request", lambda r: tiles.append(r.url) if "/wmts/1.0.0/NDVI/" in r.url else None)
    page.goto(live.url + "/")
    _wait_for_tiles(page)

    layers = page.eval_on_selector_all("#layer option", "options => options.map(o => o.value)")
    assert {"NDVI", "TRUE_COLOR", "SCL"} <= set(layers)
    dates = page.eval_on_selector_all("#time option", "options => options.map(o => o.value)")
    catalog = {
        i["properties"]["datetime"][:10] for i in load_items(sample_archive, "sentinel-2-l2a")
    }
    assert sorted(dates) == sorted(catalog)
    assert page.input_value("#time") == max(catalog)  # the capabilities' default: the latest

    loaded = page.eval_on_selector_all(
        "img.leaflet-tile-loaded", "images => images.map(i => [i.naturalWidth, i.src])"
    )
    assert len(loaded) >= 4 and all(width == 256 for width, _ in loaded)
    assert all(f"/WebMercatorQuad/{max(catalog)}/" in src for _, src in loaded)
    assert _green(_map_pixels(page)) > 0.2  # vegetation drawn, not a blank map
    page.close()


def test_date_maxcc_and_expression_reach_the_tiles(live, browser):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(live.url + "/")
    _wait_for_tiles(page)
    before = _map_pixels(page)

    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "/wmts/1.0.0/" in r.url else None)
    page.select_option("#time", "2025-06-13")
    _wait_for_tiles(page)
    page.fill("#maxcc", "50")
    page.fill("#expression", "(B03-B08)/(B03+B08)")
    page.click("button[type=submit]")
    _wait_for_tiles(page)
    after = _map_pixels(page)

    last = [url for url in requested if "EXPRESSION=" in url]
    assert last and all("/2025-06-13/" in url and "MAXCC=50" in url for url in last)
    assert "EXPRESSION=%28B03-B08%29%2F%28B03%2BB08%29" in last[0]
    assert page.text_content("#status").startswith("Normalised difference vegetation index")
    assert _green(after) < _green(before) / 2  # the water index is not the NDVI picture
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 10
    page.close()


def test_bad_expression_is_reported(live, browser):
    page = browser.new_page(viewport={"width": 600, "height": 400})
    page.goto(live.url + "/")
    _wait_for_tiles(page)
    page.fill("#expression", "B04 +")
    page.click("button[type=submit]")
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "expression" in page.text_content("#status")
    page.close()
