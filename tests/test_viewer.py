"""The viewer at ``/`` in Debian's headless Chromium (driven by Playwright, no downloaded browser).

Checks that it loads tiles over an offline background (land, graticule, the mosaic backdrop),
shows the layer's legend, lists the acquisitions over the visible area (and follows the map),
charts a clicked point's values over time with cloudy dates marked (values checked against
plain rasterio + numpy reads of the sample), keeps the view in the URL, and has a favicon.
Pictures are checked in the screenshot's pixels, not only in the DOM.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import shapely
from PIL import Image
from pyproj import Transformer

from gateway.config import GatewayConfig
from tests.support.expected import load_items, ndvi, read_band
from tests.support.ogcapi_checks import item_of
from tests.support.ows_live import live_gateway

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
VIEWER_DOORS = ("gateway.ogcapi.door:build_door", "gateway.ows.mapproxy.door:build_door")
L2A = "sentinel-2-l2a"
DAYS = ["2025-05-29", "2025-06-03", "2025-06-13", "2025-06-23"]  # the sample's dates
CLOUDY_DAY = "2025-06-03"  # ~65 % cloud on T31UFU
LINE_COLOUR = (0x15, 0x65, 0xC0)  # chart.js LINE_COLOURS[0]
CLOUD_COLOUR = (0x8C, 0x8C, 0x8C)  # chart.js CLOUD_COLOUR
# Inside T32ULD, east of the no-data swath edge of its 2025-06-13 acquisition.
SWATH_EDGE_VIEW = (52.585, 6.205, 16)
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def live(sample_settings):
    """The gateway with the WMS/WMTS door (tiles, legend, the viewer) and OGC API (features,
    the statistics process) on 127.0.0.1; yields its base URL."""
    with live_gateway(sample_settings, doors=VIEWER_DOORS) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def config(sample_settings) -> GatewayConfig:
    from gateway.config import load_config

    return load_config(sample_settings.config_file)


# -- helpers ----------------------------------------------------------------------------------


def _open(browser, url: str, width: int = 1100, height: int = 750):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    _wait_for(page, "tiles")
    _wait_for(page, "dates")
    return page


def _wait_for(page, what: str) -> None:
    page.wait_for_selector(f"body[data-{what}='loaded']", timeout=TIMEOUT_MS)


def _query(url: str) -> dict[str, str]:
    return {k.upper(): v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _tile_requests(page) -> list[dict[str, str]]:
    urls = page.eval_on_selector_all("img.leaflet-tile-loaded", "images => images.map(i => i.src)")
    return [_query(u) for u in urls if "REQUEST=GetTile" in u]


def _listed_dates(page) -> list[str]:
    return page.eval_on_selector_all(
        "#dates button[data-date]:not([data-date=''])",
        "buttons => buttons.map(b => b.dataset.date)",
    )


def _statistics_inputs(page) -> list[dict]:
    """The inputs of every statistics execution the page will post (filled as it does)."""
    posted: list[dict] = []

    def record(request) -> None:
        if request.method == "POST" and "/processes/statistics/execution" in request.url:
            posted.append(json.loads(request.post_data)["inputs"])

    page.on("request", record)
    return posted


def _pressed_date(page) -> str:
    return page.get_attribute("#dates button[aria-pressed='true']", "data-date")


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _share_near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 10) -> float:
    """Share of pixels within ``tolerance`` of ``colour`` on every channel."""
    return float((np.abs(pixels - np.array(colour)).max(axis=-1) <= tolerance).mean())


def _region(screenshot: np.ndarray, box: dict) -> np.ndarray:
    x, y = round(box["x"]), round(box["y"])
    return screenshot[y : y + round(box["height"]), x : x + round(box["width"])]


def _green(pixels: np.ndarray) -> float:
    """Share of pixels of NDVI's green ramp (vegetation): green well above red and blue."""
    r, g, b = (pixels[..., i] for i in range(3))
    return float(((g - r > 25) & (g - b > 25)).mean())


def _style_colours(config: GatewayConfig, layer: str) -> list[tuple[int, int, int]]:
    """The colours of a layer's style stops, read from the YAML (not from the renderer)."""
    style = next(s for s in config.styles if s.name == config.layer(layer).style)
    return [tuple(int(c) for c in stop.rgba[:3]) for stop in style.stops]


def _has_every_colour(pixels: np.ndarray, colours, tolerance: int = 8) -> list:
    """The colours of ``colours`` that no pixel is near (empty: all present)."""
    flat = pixels.reshape(-1, 3)
    return [c for c in colours if not (np.abs(flat - np.array(c)).max(axis=1) <= tolerance).any()]


def _cloudy_point(archive, config) -> tuple[float, float]:
    """A point of T31UFU alone (west of T32ULD) whose SCL is a cloud class on CLOUDY_DAY and
    clear, valid data on the other dates, in the middle of a 3 x 3 block of such 20 m pixels
    (a click lands within a few metres of it)."""
    classes = config.collection(L2A).cloud_mask.classes
    scl = {d: read_band(archive, item_of(archive, "31UFU", d), "SCL_20m", reflectance=False)
           for d in DAYS}  # fmt: skip
    fits = np.ones(scl[DAYS[0]].dn.shape, dtype=bool)
    for day, band in scl.items():
        cloudy = np.isin(band.dn, classes)
        fits &= (band.dn != 0) & (cloudy if day == CLOUDY_DAY else ~cloudy)
    block = fits.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            block[1:-1, 1:-1] &= fits[
                1 + dy : fits.shape[0] - 1 + dy, 1 + dx : fits.shape[1] - 1 + dx
            ]
    block[[0, -1], :] = False
    block[:, [0, -1]] = False
    rows, cols = np.nonzero(block)
    t = scl[DAYS[0]].transform
    to_lonlat = Transformer.from_crs(scl[DAYS[0]].crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e)
    west = (lon > 5.93) & (lon < 6.02)  # T32ULD starts at 6.04
    assert west.any(), "the sample has no cloudy-once point"
    best = np.argmin(np.where(west, np.hypot(lon - 5.975, lat - 52.615), np.inf))
    return float(lat[best]), float(lon[best])


def _pixel_centre(inputs: dict) -> tuple[float, float]:
    """The centre of the statistics grid's cell inside the posted box (Web Mercator): the
    grid is snapped to multiples of the resolution, the cell whose centre is in the box."""
    minx, miny, maxx, maxy = inputs["bbox"]
    size = inputs["resolution"]
    x = (math.floor((minx + maxx) / 2 / size) + 0.5) * size
    y = (math.floor((miny + maxy) / 2 / size) + 0.5) * size
    assert minx < x < maxx and miny < y < maxy
    return x, y


def _expected_series(archive, config, x: float, y: float) -> dict[str, float | None]:
    """NDVI at the Web Mercator point per date with numpy (None: a cloud class there)."""
    classes = config.collection(L2A).cloud_mask.classes
    expected: dict[str, float | None] = {}
    for day in DAYS:
        item = item_of(archive, "31UFU", day)
        xs, ys = np.array([x]), np.array([y])
        sample = {
            key: read_band(archive, item, key, reflectance=key != "SCL_20m").sample(
                xs, ys, "EPSG:3857"
            )[0]
            for key in ("B04_10m", "B08_10m", "SCL_20m")
        }
        cloudy = sample["SCL_20m"] in classes
        value = ndvi(np.array([sample["B08_10m"]]), np.array([sample["B04_10m"]]))[0]
        expected[day] = None if cloudy else float(value)
    return expected


# -- tiles, legend, background, favicon -----------------------------------------------------


def test_viewer_shows_ndvi_tiles_with_legend(live, browser, sample_archive, config):
    page = _open(browser, live + "/")
    layers = page.eval_on_selector_all("#layer option", "options => options.map(o => o.value)")
    assert {"NDVI", "TRUE_COLOR", "SCL"} <= set(layers)
    assert page.input_value("#layer") == "NDVI"

    # No date chosen: every tile request leaves TIME out.
    assert _pressed_date(page) == ""
    tiles = [q for q in _tile_requests(page) if q["LAYER"] == "NDVI"]
    assert len(tiles) >= 4 and all("TIME" not in q for q in tiles)
    widths = page.eval_on_selector_all(
        "img.leaflet-tile-loaded", "images => images.map(i => i.naturalWidth)"
    )
    assert set(widths) == {256}
    # The dates over the whole sample area: every acquisition of the catalog.
    catalog = {i["properties"]["datetime"][:10] for i in load_items(sample_archive, L2A)}
    assert _listed_dates(page) == sorted(catalog, reverse=True)

    map_pixels = _pixels(page.locator("#map").screenshot())
    assert _green(map_pixels) > 0.1  # vegetation drawn, not a blank map

    # The legend: WMS GetLegendGraphic of the layer, decoding to the style's ramp colours.
    page.wait_for_selector("body[data-legend='loaded']", timeout=TIMEOUT_MS)
    source = page.get_attribute("#legend img", "src")
    assert _query(source)["REQUEST"] == "GetLegendGraphic" and _query(source)["LAYER"] == "NDVI"
    legend = httpx.get(f"{live}/{source}")
    assert legend.status_code == 200 and legend.headers["content-type"] == "image/png"
    ramp = _style_colours(config, "NDVI")
    assert _has_every_colour(_pixels(legend.content), ramp) == []
    # ... and the screenshot's legend region shows them.
    screenshot = _pixels(page.screenshot())
    legend_box = page.locator("#legend img").bounding_box()
    assert _has_every_colour(_region(screenshot, legend_box), ramp) == []
    page.close()


def test_background_outside_the_data(live, browser):
    # Zoomed out over western Europe: the sample is a speck; land, sea and graticule show.
    page = _open(browser, live + "/#layer=NDVI&lat=50&lon=5&zoom=5")
    page.wait_for_function("document.querySelectorAll('.graticule-label').length > 4")
    page.wait_for_timeout(500)  # the land canvas is drawn on the next frame
    pixels = _pixels(page.locator("#map").screenshot())
    land, sea = (0xF1, 0xEE, 0xE4), (0xD5, 0xE3, 0xEE)  # basemap.js fill, viewer.css background
    assert _share_near(pixels, land, 3) > 0.3
    assert _share_near(pixels, sea, 3) > 0.1
    labels = page.eval_on_selector_all(".graticule-label", "nodes => nodes.map(n => n.textContent)")
    assert "50° N" in labels and "5° E" in labels
    page.close()

    # Zoomed in where the chosen date has no data: the quarterly mosaic shows under it.
    requested: list[str] = []
    page = browser.new_page(viewport={"width": 900, "height": 600})
    page.on("request", lambda r: requested.append(r.url) if "GetTile" in r.url else None)
    page.goto(live + f"/#layer=NDVI&time={CLOUDY_DAY}&lat=52.615&lon=5.955&zoom=14")
    _wait_for(page, "tiles")
    backdrop = [_query(u) for u in requested if "LAYER=MOSAIC_TRUE_COLOR" in u]
    assert backdrop and all("TIME" not in q for q in backdrop)
    page.close()


def test_favicon(live, browser):
    answer = httpx.get(f"{live}/favicon.ico")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")
    icon = Image.open(io.BytesIO(answer.content))
    assert icon.format == "ICO" and icon.size[0] >= 16
    page = browser.new_page()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(live + "/")
    _wait_for(page, "tiles")
    assert page.get_attribute("link[rel=icon]", "href") == "favicon.ico"
    assert failed == []
    page.close()


# -- the date list ----------------------------------------------------------------------------


def _dates_over(archive, bounds: list[float]) -> list[str]:
    """Days of the catalog's scenes whose footprint touches ``bounds``, with shapely."""
    view = shapely.box(*bounds)
    days = {
        item["properties"]["datetime"][:10]
        for item in load_items(archive, L2A)
        if shapely.geometry.shape(item["geometry"]).intersects(view)
    }
    return sorted(days, reverse=True)


def _wait_for_dates(page, expected: list[str]) -> None:
    page.wait_for_function(
        """expected => document.body.dataset.dates === 'loaded' &&
           JSON.stringify([...document.querySelectorAll("#dates button[data-date]")]
             .map(b => b.dataset.date).filter(d => d)) === JSON.stringify(expected)""",
        arg=expected,
        timeout=TIMEOUT_MS,
    )


def _set_view(page, lat: float, lon: float, zoom: int) -> None:
    # Returns nothing: Playwright would serialise the map object setView returns (seconds).
    page.evaluate(
        "([lat, lon, zoom]) => { viewer.map.setView([lat, lon], zoom); }", [lat, lon, zoom]
    )


def _view_bounds(page) -> list[float]:
    return page.evaluate(
        "(() => { const b = viewer.map.getBounds();"
        " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"
    )


def test_date_list_follows_the_map(live, browser, sample_archive):
    page = _open(browser, live + "/")
    assert _listed_dates(page) == _dates_over(sample_archive, _view_bounds(page))
    assert "4 dates, 8 scenes" in page.text_content("#dates-note")
    cloud = page.text_content(f"#dates button[data-date='{CLOUDY_DAY}'] .cloud")
    assert cloud == "☁ 62–66 %"  # the two scenes' eo:cloud_cover, 62.04 and 66.28

    lat, lon, zoom = SWATH_EDGE_VIEW
    _set_view(page, lat, lon, zoom)
    expected = _dates_over(sample_archive, _view_bounds(page))
    assert "2025-06-13" not in expected and len(expected) == 3
    _wait_for_dates(page, expected)
    assert "3 dates, 3 scenes" in page.text_content("#dates-note")

    _set_view(page, 48, 10, 9)  # no data there
    _wait_for_dates(page, [])
    assert page.text_content("#dates-note") == "No acquisition over this area."
    page.close()


def test_date_list_is_bounded_and_says_when_cut(live, browser):
    page = browser.new_page(viewport={"width": 900, "height": 600})
    # The list asks for at most LIMIT scenes; with a limit of 3 the 8 scenes are cut.
    page.route(
        "**/ogcapi/collections/*/items?*",
        lambda route: route.continue_(url=route.request.url.replace("limit=500", "limit=3")),
    )
    page.goto(live + "/")
    _wait_for(page, "dates")
    note = page.text_content("#dates-note")
    assert "List cut: the latest 3 scenes of 8" in note
    assert _listed_dates(page) == ["2025-06-23", "2025-06-13"]
    page.close()


def test_date_maxcc_and_expression_reach_the_tiles(live, browser):
    page = _open(browser, live + "/", 900, 700)
    before = _pixels(page.locator("#map").screenshot())

    page.click("#dates button[data-date='2025-06-13']")
    _wait_for(page, "tiles")
    assert _pressed_date(page) == "2025-06-13"
    assert all(q["TIME"] == "2025-06-13" for q in _tile_requests(page) if q["LAYER"] == "NDVI")
    page.fill("#maxcc", "50")
    page.fill("#expression", "(B03-B08)/(B03+B08)")
    page.click("button[type=submit]")
    _wait_for(page, "tiles")
    _wait_for(page, "dates")
    after = _pixels(page.locator("#map").screenshot())

    tiles = [q for q in _tile_requests(page) if q["LAYER"] == "NDVI"]
    assert tiles and all(
        q["TIME"] == "2025-06-13"
        and q["MAXCC"] == "50"
        and q["EXPRESSION"] == "(B03-B08)/(B03+B08)"
        for q in tiles
    )
    assert page.text_content("#status").startswith("Normalised difference vegetation index")
    assert _green(after) < _green(before) / 2  # the water index is not the NDVI picture
    assert np.abs(after - before).mean() > 10
    # MAXCC 50 drops 2025-06-03 (62-66 % cloud) from the list too.
    assert _listed_dates(page) == ["2025-06-23", "2025-06-13", "2025-05-29"]
    page.close()


def test_bad_expression_is_reported(live, browser):
    page = _open(browser, live + "/", 600, 400)
    page.fill("#expression", "B04 +")
    page.click("button[type=submit]")
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "expression" in page.text_content("#status")
    page.close()


# -- the time series of a clicked point -------------------------------------------------------


def test_click_charts_the_point_over_time(live, browser, sample_archive, config):
    lat, lon = _cloudy_point(sample_archive, config)
    page = browser.new_page(viewport={"width": 1100, "height": 750})
    posted = _statistics_inputs(page)
    page.goto(live + f"/#layer=NDVI&lat={lat}&lon={lon}&zoom=16")
    _wait_for(page, "tiles")
    page.click("#map")  # its centre: the point
    _wait_for(page, "chart")

    assert len(posted) == 1
    inputs = posted[0]
    assert inputs["expression"] == "NDVI" and inputs["crs"] == "EPSG:3857"
    assert inputs["aggregation_interval"] == "P1D" and inputs["cloud_mask"] is True
    x, y = _pixel_centre(inputs)
    clicked_lon, clicked_lat = Transformer.from_crs(
        "EPSG:3857", "EPSG:4326", always_xy=True
    ).transform(x, y)
    assert abs(clicked_lat - lat) < 1e-4 and abs(clicked_lon - lon) < 1.5e-4  # within ~10 m

    expected = _expected_series(sample_archive, config, x, y)
    assert [d for d, v in expected.items() if v is None] == [CLOUDY_DAY]  # the point's choice
    shown = page.eval_on_selector_all(
        "#chart circle.value", "dots => dots.map(d => [d.dataset.date, Number(d.dataset.value)])"
    )
    cloudy = page.eval_on_selector_all("#chart .cloudy", "marks => marks.map(m => m.dataset.date)")
    assert cloudy == [CLOUDY_DAY]
    assert dict(shown) == pytest.approx({d: v for d, v in expected.items() if v is not None},
                                        abs=1e-5)  # fmt: skip
    assert "4 dates with data, 1 cloudy" in page.text_content("#chart-note")

    # In the screenshot: the chart has the line and the cloud marker, the legend its ramp.
    screenshot = _pixels(page.screenshot())
    chart = _region(screenshot, page.locator("#chart").bounding_box())
    assert _share_near(chart, LINE_COLOUR, 12) > 0.003
    assert _share_near(chart, CLOUD_COLOUR, 6) > 0.0005
    assert _share_near(chart, (255, 255, 255), 0) > 0.6  # a white chart, not a blank box
    legend = _region(screenshot, page.locator("#legend img").bounding_box())
    assert _has_every_colour(legend, _style_colours(config, "NDVI")) == []

    # A click on a value in the chart chooses that date for the map.
    page.click("#chart circle.value[data-date='2025-06-13']")
    _wait_for(page, "tiles")
    assert _pressed_date(page) == "2025-06-13"
    assert page.get_attribute("#chart .chosen", "data-date") == "2025-06-13"
    page.close()


# -- the URL keeps the view -------------------------------------------------------------------


def test_the_url_keeps_the_view(live, browser, sample_archive, config):
    lat, lon = _cloudy_point(sample_archive, config)
    state = (
        f"#layer=NDWI&time=2025-06-23&maxcc=70&expression=B08-B04&lat={lat:.5f}&lon={lon:.5f}"
        f"&zoom=15&point={lat:.6f},{lon:.6f}"
    )
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    posted = _statistics_inputs(page)
    page.goto(live + "/" + state)
    _wait_for(page, "tiles")
    _wait_for(page, "chart")

    assert page.input_value("#layer") == "NDWI"
    assert page.input_value("#maxcc") == "70"
    assert page.input_value("#expression") == "B08-B04"
    _wait_for_dates(page, DAYS[::-1])  # MAXCC 70 keeps 2025-06-03 (66 % on T31UFU)
    assert _pressed_date(page) == "2025-06-23"
    centre = page.evaluate("[viewer.map.getCenter().lat, viewer.map.getCenter().lng]")
    assert centre == pytest.approx([lat, lon], abs=3e-5)  # rounded to the URL's 5 decimals
    assert page.evaluate("viewer.map.getZoom()") == 15
    tiles = [q for q in _tile_requests(page) if q["LAYER"] == "NDWI"]
    assert tiles and all(
        q["TIME"] == "2025-06-23" and q["MAXCC"] == "70" and q["EXPRESSION"] == "B08-B04"
        for q in tiles
    )
    assert posted and posted[-1]["expression"] == "B08-B04" and posted[-1]["maxcc"] == 70
    assert page.is_visible("#chart-panel")

    # Change the view, then open the URL it wrote in a new page: the same view comes back.
    page.click("#dates button[data-date='2025-05-29']")
    page.select_option("#layer", "NDMI")
    _set_view(page, 52.6, 6.1, 13)
    _wait_for(page, "tiles")
    shared = page.evaluate("location.hash")
    saved = {k: v[0] for k, v in parse_qs(shared[1:]).items()}
    assert saved["layer"] == "NDMI" and saved["time"] == "2025-05-29"
    assert saved["zoom"] == "13" and float(saved["lat"]) == pytest.approx(52.6, abs=1e-4)
    page.close()

    again = browser.new_page(viewport={"width": 1000, "height": 700})
    again.goto(live + "/" + shared)
    _wait_for(again, "tiles")
    assert again.input_value("#layer") == "NDMI"
    assert again.evaluate("viewer.map.getZoom()") == 13
    tiles = [q for q in _tile_requests(again) if q["LAYER"] == "NDMI"]
    assert tiles and all(q["TIME"] == "2025-05-29" and q["MAXCC"] == "70" for q in tiles)
    _wait_for(again, "chart")  # the point came back with the view
    again.close()
