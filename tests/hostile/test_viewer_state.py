"""A hostile URL hash given to the viewer: ignored or shown as text, never run, no JS error."""

from __future__ import annotations

from urllib.parse import quote

from tests.test_viewer import _query, _tile_requests, _wait_for, browser, live  # noqa: F401

HOSTILE = {
    "layer": '<img src=x onerror="window.__pwned=1">',
    "time": "../../etc/passwd",
    "maxcc": "1e999",
    "expression": '"><script>window.__pwned=1</script>',
    "lat": "52.6",
    "lon": "6.0",
    "zoom": "999",
    "point": "Infinity,<b>",
}


def test_a_hostile_hash_falls_back_to_defaults(live, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 900, "height": 600})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog {dialog.message}"))
    state = "&".join(f"{key}={quote(value)}" for key, value in HOSTILE.items())
    page.goto(f"{live}/#{state}")
    _wait_for(page, "dates")
    page.wait_for_selector("#status:not(:empty)", timeout=60_000)

    assert page.input_value("#layer") == "NDVI"  # unknown layer: the default one
    assert page.evaluate("window.__pwned") is None and errors == []
    assert page.input_value("#expression") == HOSTILE["expression"]  # text, not markup
    assert page.is_hidden("#chart-panel")  # no point
    zoom = page.evaluate("viewer.map.getZoom()")
    assert 2 <= zoom <= 18  # the layer's extent, not zoom 999
    # The expression reaches the tiles as a value; the gateway refuses it and the page says so.
    page.wait_for_selector("#status.error", timeout=60_000)
    requested = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    ndvi = [_query(url) for url in requested if "GetTile" in url and "LAYER=NDVI" in url]
    assert ndvi and all("TIME" not in q and q["EXPRESSION"] == HOSTILE["expression"] for q in ndvi)
    assert all(q.get("MAXCC") in (None, "") for q in ndvi)  # 1e999 is no cloud cover
    page.close()
