"""A million Sentinel-2 L2A items over Europe, streamed, each shaped field for field like CDSE's.

Footprints are the real Sentinel-2 tiling grid: MGRS 100 km squares of UTM zones 29–36, each
tile 109,800 m square from 20 m west and north of its square's corner (like the CDSE fixture's
``proj:bbox``). Dates follow the orbits: 143 relative orbits repeating every 10 days, each
datatake ``10 d / 143`` after the previous one and sun-synchronous (25.17° further west), the
second satellite 5 days after the first, so a datatake's tiles share one sensing time like
CDSE's products do. Cloud cover is U-shaped like CDSE's (many near 0 and near 100).

Items are made by filling one template cut from the CDSE fixture item
(``tests/fixtures/cdse-stac/sentinel-2-l2a.item.json``): generation keeps no items in memory.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from pyproj import Transformer

from gateway.sample.layout import product_uuid
from gateway.sample.solar import sun_position

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cdse-stac"
FIXTURE = FIXTURE / "sentinel-2-l2a.item.json"
COLUMNS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
ROWS = "ABCDEFGHJKLMNPQRSTUV"
BANDS = "CDEFGHJKLMNPQRSTUVWX"
TILE_M = 109_800
EUROPE = (-10.5, 35.0, 32.0, 71.0)  # lon/lat box the tiles' centres fall in
REPEAT = timedelta(days=10)
ORBITS = 143
DATATAKE_STEP = REPEAT / ORBITS
WEST_PER_ORBIT = 360.0 * 10 / ORBITS
HALF_SWATH_KM = 145.0
# The sample's S2C datatake of relative orbit 94: 2025-05-29T10:56:21, over 6° E at 52.6° N.
ANCHOR_TIME = datetime(2025, 5, 29, 10, 56, 21, 24000, tzinfo=UTC)
ANCHOR_ORBIT, ANCHOR_LON, ANCHOR_LAT = 94, 6.0, 52.6
INCLINATION = math.radians(98.62)
S2C_FROM = datetime(2025, 1, 21, tzinfo=UTC)
# platform, international designator, (time, absolute orbit) it is anchored to
PLATFORMS = {
    "S2A": ("sentinel-2a", "2015-028A", datetime(2022, 2, 17, 18, 34, 31, tzinfo=UTC), 34773),
    "S2B": ("sentinel-2b", "2017-013A", datetime(2025, 6, 3, 10, 56, 19, tzinfo=UTC), 43280),
    "S2C": ("sentinel-2c", "2024-157A", ANCHOR_TIME, 3782),
}
# What the fixture says, and the marker each becomes in the template.
_TOKENS = {
    "13VEK": "@@tile@@",
    "S2A_": "@@sat@@_",
    "20220217T183431": "@@sense@@",
    "20220217T183428": "@@dsense@@",
    "20240516T022440": "@@proc@@",
    "R027_": "R@@rel@@_",
    "_A034773_": "_A@@abs@@_",
    "_034773_": "_@@abs@@_",
    "2022/02/17": "@@ymd@@",
    "EPSG:32613": "EPSG:@@epsg@@",
    "7d10d1f8-e4a8-40d8-af15-4c227639d61a": "@@uuid@@",
    "2300ed19-15f5-45e3-8b6d-cff89bf45dd7": "@@qluuid@@",
}
_MARK = re.compile(r'"##(\w+)##"|@@(\w+)@@')


@dataclass(frozen=True)
class Tile:
    """One Sentinel-2 tile: its MGRS code, UTM EPSG code, corner and footprint."""

    code: str
    epsg: int
    ulx: int
    uly: int
    lon: float
    lat: float
    ring: tuple[tuple[float, float], ...]


@cache
def _to_lonlat(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, 4326, always_xy=True)


def mgrs_square(zone: int, easting: float, northing: float, lat: float) -> str:
    """The MGRS code (zone, latitude band, 100 km square letters) of a UTM point."""
    column = COLUMNS[(zone - 1) % 3][int(easting // 100_000) - 1]
    row = ROWS[(int(northing // 100_000) + (0 if zone % 2 else 5)) % 20]
    band = BANDS[min(int((lat + 80) // 8), 19)]
    return f"{zone}{band}{column}{row}"


def europe_tiles() -> list[Tile]:
    """Every tile of UTM zones 29–36 whose centre lies in ``EUROPE`` and in or near its zone."""
    west, south, east, north = EUROPE
    tiles = []
    for zone in range(29, 37):
        epsg = 32600 + zone
        transform = _to_lonlat(epsg)
        zone_west = -180 + 6 * (zone - 1)
        for e100 in range(1, 9):
            for n100 in range(38, 80):
                ulx, uly = e100 * 100_000 - 20, (n100 + 1) * 100_000 + 20
                xs = (ulx, ulx + TILE_M, ulx + TILE_M, ulx, ulx)
                ys = (uly, uly, uly - TILE_M, uly - TILE_M, uly)
                lons, lats = transform.transform(xs, ys)
                lon, lat = transform.transform(ulx + TILE_M / 2, uly - TILE_M / 2)
                inside = west <= lon <= east and south <= lat <= north
                if not inside or not zone_west - 0.5 <= lon <= zone_west + 6.5:
                    continue
                ring = tuple((round(x, 7), round(y, 7)) for x, y in zip(lons, lats, strict=True))
                code = mgrs_square(zone, e100 * 100_000, n100 * 100_000 + 50_000, lat)
                tiles.append(Tile(code, epsg, ulx, uly, lon, lat, ring))
    return tiles


def track_lon(orbit: int, lat: float) -> float:
    """Longitude of a relative orbit's descending ground track at a latitude (a fair model)."""
    lean = math.degrees(math.asin(math.tan(math.radians(lat)) / math.tan(INCLINATION)))
    spin = 0.25 * (lat / 360 * 100.7)  # the Earth turns 0.25° a minute, an orbit is 100.7 min
    anchor_lean = math.degrees(
        math.asin(math.tan(math.radians(ANCHOR_LAT)) / math.tan(INCLINATION))
    )
    anchor_spin = 0.25 * (ANCHOR_LAT / 360 * 100.7)
    lon = ANCHOR_LON - (orbit - ANCHOR_ORBIT) * WEST_PER_ORBIT
    lon += (spin - lean) - (anchor_spin - anchor_lean)
    return (lon + 180) % 360 - 180


def coverage(tiles: list[Tile]) -> dict[int, list[Tile]]:
    """The tiles each relative orbit's 290 km swath touches."""
    out: dict[int, list[Tile]] = {}
    for orbit in range(1, ORBITS + 1):
        hits = []
        for tile in tiles:
            km_per_degree = 111.32 * math.cos(math.radians(tile.lat))
            reach = (HALF_SWATH_KM + TILE_M / 2000) / km_per_degree
            offset = (tile.lon - track_lon(orbit, tile.lat) + 180) % 360 - 180
            if abs(offset) <= reach:
                hits.append(tile)
        out[orbit] = hits
    return out


def _template() -> tuple[list[str], list[str]]:
    """The fixture item cut into literal parts and the names of the values between them."""
    item = json.loads(FIXTURE.read_text())
    item["bbox"] = "##bbox##"
    item["geometry"]["coordinates"] = "##ring##"
    props = item["properties"]
    for key in ("created", "eopf:origin_datetime"):
        props[key] = "@@created@@"
    props["updated"], props["published"] = "@@updated@@", "@@published@@"
    for key in ("datetime", "start_datetime", "end_datetime"):
        props[key] = "@@iso@@"
    props["processing:datetime"] = "@@prociso@@"
    props["platform"] = "@@platform@@"
    props["sat:platform_international_designator"] = "@@designator@@"
    for key, mark in (
        ("eo:cloud_cover", "cloud"),
        ("eo:snow_cover", "snow"),
        ("sat:relative_orbit", "relnum"),
        ("sat:absolute_orbit", "absnum"),
        ("view:sun_azimuth", "sunaz"),
        ("view:sun_elevation", "sunel"),
    ):
        props[key] = f"##{mark}##"
    stats = props["statistics"]
    for key in ("medium_proba_clouds", "high_proba_clouds", "thin_cirrus", "vegetation"):
        stats[key] = f"##{key}##"
    for asset in item["assets"].values():
        if "proj:bbox" in asset:
            asset["proj:bbox"] = ["##ulx##", "##lry##", "##lrx##", "##uly##"]
            res = asset["proj:transform"][0]
            asset["proj:transform"] = [res, 0, "##ulx##", 0, -res, "##uly##"]
    text = json.dumps(item, separators=(",", ":"))
    for token, mark in _TOKENS.items():
        text = text.replace(token, mark)
    pieces = _MARK.split(text)
    parts = pieces[0::3]
    names = [a or b for a, b in zip(pieces[1::3], pieces[2::3], strict=True)]
    return parts, names


def fill(parts: list[str], names: list[str], values: dict[str, str]) -> str:
    """One item's JSON: the template's parts with ``values`` between them."""
    out = [parts[0]]
    for name, part in zip(names, parts[1:], strict=True):
        out.append(values[name])
        out.append(part)
    return "".join(out)


def _cloud(rng: random.Random) -> float:
    """Cloud cover spread like CDSE's: a tenth exactly clear or overcast, a U-shape between."""
    draw = rng.random()
    if draw < 0.05:
        return 0.0
    if draw < 0.12:
        return 100.0
    return round(100 * rng.betavariate(0.45, 0.45), 6)


def _satellite(slot: int, when: datetime) -> str:
    if slot == 1:
        return "S2B"
    return "S2C" if when >= S2C_FROM else "S2A"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def datatakes(newest: datetime) -> Iterator[tuple[datetime, str, int]]:
    """(sensing time, satellite, relative orbit) of every datatake, newest first, from ``newest``
    (a day) backwards."""
    day = newest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while True:
        day -= timedelta(days=1)
        found = []
        for slot in (0, 1):
            first = ANCHOR_TIME + slot * REPEAT / 2
            for orbit in range(1, ORBITS + 1):
                start = first + (orbit - ANCHOR_ORBIT) * DATATAKE_STEP
                cycles = math.floor((day - start) / REPEAT) + 1
                when = start + cycles * REPEAT
                if when < day + timedelta(days=1):
                    found.append((when, _satellite(slot, when), orbit))
        yield from sorted(found, reverse=True)


def items(
    count: int,
    newest: datetime,
    avoid: tuple[float, float, float, float] | None = None,
    share: tuple[int, int] = (0, 1),
) -> Iterator[str]:
    """``count`` items as JSON lines, newest datatake first; none whose tile's footprint touches
    ``avoid`` (lon/lat box: where real sample scenes are, so those stay the only ones there).

    ``share=(k, n)`` yields only the items of months ``k`` modulo ``n`` (the same items as
    ``n`` shares together), so ``n`` loaders never write into one monthly partition."""
    parts, names = _template()
    tiles = europe_tiles()
    if avoid is not None:
        tiles = [t for t in tiles if not _touches(t, avoid)]
    cover = coverage(tiles)
    rng = random.Random(14)
    made = 0
    for when, sat, orbit in datatakes(newest):
        platform, designator, anchor, anchor_abs = PLATFORMS[sat]
        absolute = anchor_abs + round((when - anchor) / DATATAKE_STEP)
        processed = when + timedelta(hours=2, minutes=rng.randrange(60), seconds=rng.randrange(60))
        shared = {
            "sat": sat,
            "platform": platform,
            "designator": designator,
            "sense": _stamp(when),
            "dsense": _stamp(when - timedelta(seconds=3)),
            "proc": _stamp(processed),
            "iso": _iso(when),
            "prociso": _iso(processed.replace(microsecond=0)),
            "created": _iso(processed + timedelta(minutes=40)),
            "updated": _iso(processed + timedelta(minutes=55)),
            "published": _iso(processed + timedelta(minutes=50)),
            "ymd": when.strftime("%Y/%m/%d"),
            "rel": f"{orbit:03d}",
            "relnum": str(orbit),
            "abs": f"{absolute:06d}",
            "absnum": str(absolute),
        }
        mine = (when.year * 12 + when.month) % share[1] == share[0]
        for tile in cover[orbit]:
            made += 1
            cloud = _cloud(rng)
            if not mine:
                if made >= count:
                    return
                continue
            values = dict(shared)
            values.update(_tile_json(tile))
            azimuth, elevation = sun_position(when, tile.lon, tile.lat)
            values["cloud"] = repr(cloud)
            values["snow"] = repr(round(max(0.0, 30 - elevation) * (cloud % 1), 6))
            values["high_proba_clouds"] = repr(round(cloud * 0.6, 6))
            values["medium_proba_clouds"] = repr(round(cloud * 0.3, 6))
            values["thin_cirrus"] = repr(round(cloud * 0.1, 6))
            values["vegetation"] = repr(round((100 - cloud) * 0.6, 6))
            values["sunaz"], values["sunel"] = repr(azimuth), repr(elevation)
            item_id = f"{sat}_MSIL2A_{values['sense']}_N0510_R{values['rel']}_T{tile.code}"
            item_id += f"_{values['proc']}"
            values["uuid"] = str(product_uuid(item_id))
            values["qluuid"] = str(product_uuid(item_id + "-ql"))
            yield fill(parts, names, values)
            if made >= count:
                return


@cache
def _tile_json(tile: Tile) -> tuple[tuple[str, str], ...]:
    lons = [p[0] for p in tile.ring]
    lats = [p[1] for p in tile.ring]
    ring = [[list(p) for p in tile.ring]]
    return (
        ("tile", tile.code),
        ("epsg", str(tile.epsg)),
        ("ulx", str(tile.ulx)),
        ("uly", str(tile.uly)),
        ("lrx", str(tile.ulx + TILE_M)),
        ("lry", str(tile.uly - TILE_M)),
        ("bbox", json.dumps([min(lons), min(lats), max(lons), max(lats)])),
        ("ring", json.dumps(ring, separators=(",", ":"))),
    )


def _touches(tile: Tile, box: tuple[float, float, float, float]) -> bool:
    lons = [p[0] for p in tile.ring]
    lats = [p[1] for p in tile.ring]
    return not (
        max(lons) < box[0] or min(lons) > box[2] or max(lats) < box[1] or min(lats) > box[3]
    )
