"""FES 2.0 filters for the WFS tests, each with what it must select, computed on raw STAC items.

``FILTERS`` select part of the Sentinel-2 L2A sample; ``BOTH_TYPES`` run over both feature
types (the mosaics have no cloud cover, platform or orbit, so they exercise missing values)
and say whether the catalog can decide them exactly (pushed down) or Python evaluates them
over what the catalog returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyproj import Transformer
from shapely.geometry import Polygon, box, shape

FILTER_NS = 'xmlns="http://www.opengis.net/fes/2.0" xmlns:gml="http://www.opengis.net/gml/3.2"'
Item = dict


def fes(body: str) -> str:
    """A whole ``fes:Filter`` around one operator."""
    return f"<Filter {FILTER_NS}>{body}</Filter>"


def cc(item: Item) -> float | None:
    return item["properties"].get("eo:cloud_cover")


def _day(item: Item) -> str:
    return item["properties"]["datetime"][:10]


def _utm_area() -> Polygon:
    to_lonlat = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    corners = [to_lonlat.transform(x, y) for x in (308000, 311000) for y in (5830000, 5838000)]
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    return box(min(lons), min(lats), max(lons), max(lats))


def _in_utm_area(item: Item) -> bool:
    return shape(item["geometry"]).intersects(_utm_area())


def _less(limit: float) -> Callable[[Item], bool]:
    return lambda i: cc(i) is not None and cc(i) < limit


FILTERS: list[tuple[str, Callable[[Item], bool]]] = [
    (
        "<PropertyIsLessThan><ValueReference>cdse:cloud_cover</ValueReference>"
        "<Literal>20</Literal></PropertyIsLessThan>",
        _less(20),
    ),
    (
        "<PropertyIsGreaterThanOrEqualTo><ValueReference>eo:cloud_cover</ValueReference>"
        "<Literal>36.7</Literal></PropertyIsGreaterThanOrEqualTo>",
        lambda i: cc(i) >= 36.7,
    ),
    (
        "<And><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference><Literal>40</Literal>"
        "</PropertyIsLessThan><PropertyIsEqualTo><ValueReference>grid_code</ValueReference>"
        "<Literal>MGRS-31UFU</Literal></PropertyIsEqualTo></And>",
        lambda i: cc(i) < 40 and i["properties"]["grid:code"] == "MGRS-31UFU",
    ),
    (
        "<Or><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference><Literal>1</Literal>"
        "</PropertyIsLessThan><PropertyIsGreaterThan><ValueReference>cloud_cover</ValueReference>"
        "<Literal>60</Literal></PropertyIsGreaterThan></Or>",
        lambda i: cc(i) < 1 or cc(i) > 60,
    ),
    (
        "<Not><PropertyIsLike wildCard='*' singleChar='.' escapeChar='!'>"
        "<ValueReference>grid_code</ValueReference><Literal>*32U.D</Literal></PropertyIsLike></Not>",
        lambda i: not i["properties"]["grid:code"].endswith("32ULD"),
    ),
    (
        "<PropertyIsBetween><ValueReference>cloud_cover</ValueReference>"
        "<LowerBoundary><Literal>10</Literal></LowerBoundary>"
        "<UpperBoundary><Literal>40</Literal></UpperBoundary></PropertyIsBetween>",
        lambda i: 10 <= cc(i) <= 40,
    ),
    (
        "<During><ValueReference>datetime</ValueReference><gml:TimePeriod gml:id='t'>"
        "<gml:beginPosition>2025-06-01</gml:beginPosition>"
        "<gml:endPosition>2025-06-15</gml:endPosition></gml:TimePeriod></During>",
        lambda i: "2025-06-01" <= _day(i) <= "2025-06-15",
    ),
    (
        "<After><ValueReference>datetime</ValueReference><gml:TimeInstant gml:id='t'>"
        "<gml:timePosition>2025-06-03</gml:timePosition></gml:TimeInstant></After>",
        lambda i: _day(i) > "2025-06-03",
    ),
    (  # an envelope in UTM 32N (x/y): only tile 32ULD's east part
        "<BBOX><ValueReference>footprint</ValueReference>"
        "<gml:Envelope srsName='http://www.opengis.net/def/crs/EPSG/0/32632'>"
        "<gml:lowerCorner>308000 5830000</gml:lowerCorner>"
        "<gml:upperCorner>311000 5838000</gml:upperCorner></gml:Envelope></BBOX>",
        _in_utm_area,
    ),
]

_WEST = "5.9 52.5 6.11 52.5 6.11 52.75 5.9 52.75 5.9 52.5"  # lon/lat: holds T31UFU only
_WEST_WKT = ", ".join(" ".join(pair) for pair in zip(*[iter(_WEST.split())] * 2, strict=True))


@dataclass(frozen=True)
class Case:
    """A filter over both feature types: its FES body, what it selects, whether it is pushed."""

    name: str
    body: str
    expected: Callable[[Item], bool]
    exact: bool


BOTH_TYPES: list[Case] = [
    Case("less-than", FILTERS[0][0], _less(20), True),
    Case(
        "not-less-than-drops-missing",  # SQL: not (missing < 20) is unknown, not true
        "<Not><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference>"
        "<Literal>20</Literal></PropertyIsLessThan></Not>",
        lambda i: cc(i) is not None and cc(i) >= 20,
        True,
    ),
    Case(
        "is-null",
        "<PropertyIsNull><ValueReference>cloud_cover</ValueReference></PropertyIsNull>",
        lambda i: cc(i) is None,
        True,
    ),
    Case(
        "not-null-platform",
        "<Not><PropertyIsNull><ValueReference>platform</ValueReference></PropertyIsNull></Not>",
        lambda i: i["properties"].get("platform") is not None,
        True,
    ),
    Case(
        "literal-first",
        "<PropertyIsGreaterThan><Literal>20</Literal><ValueReference>cloud_cover</ValueReference>"
        "</PropertyIsGreaterThan>",
        _less(20),
        True,
    ),
    Case(
        "not-or",
        "<Not><Or><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference>"
        "<Literal>1</Literal></PropertyIsLessThan><PropertyIsEqualTo><ValueReference>"
        "grid_code</ValueReference><Literal>MGRS-31UFU</Literal></PropertyIsEqualTo></Or></Not>",
        lambda i: (  # SQL: the mosaics' missing cloud cover makes the Or unknown or true
            cc(i) is not None and not (cc(i) < 1 or i["properties"]["grid:code"] == "MGRS-31UFU")
        ),
        True,
    ),
    Case(
        "like-escape-and-single",
        "<PropertyIsLike wildCard='%' singleChar='?' escapeChar='\\'>"
        "<ValueReference>id</ValueReference><Literal>Sentinel-2\\_mosaic%3?UFU%</Literal>"
        "</PropertyIsLike>",
        lambda i: i["id"].startswith("Sentinel-2_mosaic") and "31UFU" in i["id"],
        True,
    ),
    Case(
        "between-dates",
        "<PropertyIsBetween><ValueReference>datetime</ValueReference>"
        "<LowerBoundary><Literal>2025-04-01</Literal></LowerBoundary>"
        "<UpperBoundary><Literal>2025-06-03</Literal></UpperBoundary></PropertyIsBetween>",
        lambda i: "2025-04-01" <= i["properties"]["datetime"] < "2025-06-03",
        True,
    ),
    Case(
        "before",
        "<Before><ValueReference>datetime</ValueReference><gml:TimeInstant gml:id='t'>"
        "<gml:timePosition>2025-05-30</gml:timePosition></gml:TimeInstant></Before>",
        lambda i: _day(i) < "2025-05-30",
        True,
    ),
    Case(
        "within-polygon",
        "<Within><ValueReference>footprint</ValueReference><gml:Polygon gml:id='p' "
        "srsName='urn:ogc:def:crs:OGC:1.3:CRS84'><gml:exterior><gml:LinearRing><gml:posList>"
        f"{_WEST}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></Within>",
        lambda i: shape(i["geometry"]).within(
            Polygon(zip(*[iter(map(float, _WEST.split()))] * 2, strict=True))
        ),
        True,
    ),
    Case(
        "disjoint-envelope",
        "<Disjoint><ValueReference>footprint</ValueReference><gml:Envelope "
        "srsName='http://www.opengis.net/def/crs/EPSG/0/32632'>"
        "<gml:lowerCorner>308000 5830000</gml:lowerCorner>"
        "<gml:upperCorner>311000 5838000</gml:upperCorner></gml:Envelope></Disjoint>",
        lambda i: not _in_utm_area(i),
        True,
    ),
    Case(
        "resource-ids",
        "<ResourceId rid='Sentinel-2_mosaic_2025_Q2_32ULD_0_0'/>"
        "<ResourceId rid='S2B_MSIL2A_20250613T105619_N0511_R094_T31UFU_20250613T122917'/>",
        lambda i: (
            i["id"]
            in (
                "Sentinel-2_mosaic_2025_Q2_32ULD_0_0",
                "S2B_MSIL2A_20250613T105619_N0511_R094_T31UFU_20250613T122917",
            )
        ),
        True,
    ),
    Case(
        "ignore-case-in-python",
        "<PropertyIsEqualTo matchCase='false'><ValueReference>platform</ValueReference>"
        "<Literal>SENTINEL-2B</Literal></PropertyIsEqualTo>",
        lambda i: i["properties"].get("platform") == "sentinel-2b",
        False,
    ),
    Case(
        "text-order-in-python",
        "<PropertyIsLessThan><ValueReference>grid_code</ValueReference>"
        "<Literal>MGRS-32</Literal></PropertyIsLessThan>",
        lambda i: i["properties"]["grid:code"] < "MGRS-32",
        False,
    ),
    Case(
        "not-text-order-drops-missing",  # in Python, with SQL's null logic as the catalog's
        "<Not><PropertyIsLessThan><ValueReference>platform</ValueReference>"
        "<Literal>sentinel-2c</Literal></PropertyIsLessThan></Not>",
        lambda i: i["properties"].get("platform", "") >= "sentinel-2c",
        False,
    ),
    Case(
        "and-half-pushed",
        "<And><PropertyIsLessThan><ValueReference>cloud_cover</ValueReference>"
        "<Literal>40</Literal></PropertyIsLessThan><PropertyIsLike wildCard='*' singleChar='.' "
        "escapeChar='!'><ValueReference>assets</ValueReference><Literal>*T32ULD*</Literal>"
        "</PropertyIsLike></And>",
        lambda i: _less(40)(i) and "T32ULD" in i["id"],
        False,
    ),
]

_CLEAR = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 1]}
_TILE_31UFU = {"op": "=", "args": [{"property": "grid:code"}, "MGRS-31UFU"]}
# The same filters in CQL2 (text, or JSON where pygeofilter's text grammar falls short), for
# OGC API Features: both doors must select the same features.
CQL2_TWINS: dict[str, str | dict] = {
    "less-than": "eo:cloud_cover < 20",
    "not-less-than-drops-missing": "NOT (eo:cloud_cover < 20)",
    "is-null": "eo:cloud_cover IS NULL",
    "not-null-platform": "platform IS NOT NULL",
    "not-or": {"op": "not", "args": [{"op": "or", "args": [_CLEAR, _TILE_31UFU]}]},
    "like-escape-and-single": "id LIKE 'Sentinel-2\\_mosaic%3_UFU%'",
    "between-dates": "datetime BETWEEN TIMESTAMP('2025-04-01T00:00:00Z') "
    "AND TIMESTAMP('2025-06-03T00:00:00Z')",
    "before": "datetime T_BEFORE DATE('2025-05-30')",
    "within-polygon": f"S_WITHIN(geometry, POLYGON(({_WEST_WKT})))",
    "text-order-in-python": "grid:code < 'MGRS-32'",
    "not-text-order-drops-missing": "NOT (platform < 'sentinel-2c')",
}
