"""Sun position (NOAA's low-precision formulas, good to a fraction of a degree)."""

from __future__ import annotations

import math
from datetime import datetime

from gateway.sample.geo import to_lonlat
from gateway.sample.layout import ScenePlan


def sun_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Sun (azimuth clockwise from north, elevation) in degrees at a UTC time and place."""
    day = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60 + when.second / 3600
    gamma = 2 * math.pi / 365 * (day - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    solar_minutes = hours * 60 + eqtime + 4 * lon
    hour_angle = math.radians(solar_minutes / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(
        hour_angle
    )
    zenith = math.acos(max(-1.0, min(1.0, cos_zenith)))
    azimuth = math.degrees(
        math.atan2(
            math.sin(hour_angle),
            math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi),
        )
    )
    return (azimuth + 180) % 360, 90 - math.degrees(zenith)


def scene_sun(plan: ScenePlan) -> tuple[float, float]:
    """Sun (azimuth, elevation) in degrees at the centre of a scene's window at sensing time."""
    minx, miny, maxx, maxy = plan.grids[10].bbox
    lon, lat = to_lonlat(plan.tile.epsg).transform((minx + maxx) / 2, (miny + maxy) / 2)
    return sun_position(plan.datetime, lon, lat)
