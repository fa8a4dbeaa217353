"""What the Sentinel-1 part of the sample archive holds: IW GRDH products, their radar
geometry over the sample landscape, and CDSE's names and paths.

Pure data, no I/O. A product is a slice of an IW swath (``lines`` x ``samples`` at 10 m
ground-range and azimuth spacing) centred on the sample area; line 0 is the first in time,
sample 0 the nearest in range. Satellites look right, so an ascending product has south at
line 0 and west at sample 0, a descending one north at line 0 and east at sample 0.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

S1_COLLECTION = "sentinel-1-grd"
PIXEL_SPACING = 10.0  # metres, range and azimuth (GRDH)
LINE_TIME = 0.001514  # seconds between lines (IW GRDH azimuth time interval)
SWATH_SAMPLES = 25000  # samples across the whole IW swath (incidence 30.6-45.9 degrees)
NEAR_INCIDENCE, FAR_INCIDENCE = 30.6, 45.9
BORDER_SAMPLES = 16  # near-range no-data columns (GRD border noise removal leaves zeros)
GCP_LINES, GCP_SAMPLES = 10, 21  # the geolocation grid, as in CDSE's products
CENTRE_LON, CENTRE_LAT = 6.075, 52.632  # the sample landscape's landmarks
IPF_VERSION = "003.91"

#: (lines, samples) written per profile.
S1_PROFILES: dict[str, tuple[int, int]] = {"small": (1200, 1400), "full": (4000, 5000)}


@dataclass(frozen=True)
class S1Acquisition:
    """One Sentinel-1 IW datatake over the sample area."""

    platform: str  # "S1A"
    start: datetime  # first line, UTC
    processed: datetime
    absolute_orbit: int
    orbit_state: str  # "ascending" | "descending"
    heading: float  # degrees clockwise from north, of the along-track direction
    swath_offset: int  # sample 0's position across the whole swath (sets the incidence)
    datatake: int
    seed: int

    @property
    def relative_orbit(self) -> int:
        return (self.absolute_orbit - 73) % 175 + 1

    @property
    def orbit_cycle(self) -> int:
        return (self.absolute_orbit - 73) // 175 + 1


def _t(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)


#: Relative orbits 88 (ascending, evening) and 37 (descending, morning) over the sample area.
S1_ACQUISITIONS: tuple[S1Acquisition, ...] = (
    S1Acquisition("S1A", _t("20250604T172512.318204"), _t("20250604T194107.0"), 59485,
                  "ascending", 348.2, 13700, 0x074A1C, 604),
    S1Acquisition("S1A", _t("20250613T054236.904417"), _t("20250613T071955.0"), 59609,
                  "descending", 191.6, 5200, 0x074B07, 613),
    S1Acquisition("S1A", _t("20250616T172511.750093"), _t("20250616T193322.0"), 59660,
                  "ascending", 348.2, 13700, 0x074B6E, 616),
)  # fmt: skip


@dataclass(frozen=True)
class S1Plan:
    """One GRD product of the archive: id, acquisition, size and bucket-relative paths."""

    collection: str
    item_id: str
    profile: str
    acquisition: S1Acquisition
    lines: int
    samples: int
    directory: str  # <id>.SAFE folder relative to the eodata bucket root

    @property
    def product_name(self) -> str:
        return self.directory.rsplit("/", 1)[-1]

    @property
    def datetime(self) -> datetime:
        return self.acquisition.start

    @property
    def stop(self) -> dt.datetime:
        return self.acquisition.start + timedelta(seconds=LINE_TIME * (self.lines - 1))

    def file_stem(self, polarisation: str) -> str:
        """``s1a-iw-grd-vv-<start>-<stop>-<orbit>-<datatake>-001-cog`` (VH is image 002)."""
        acq = self.acquisition
        image = "001" if polarisation.upper() == "VV" else "002"
        return (
            f"{acq.platform.lower()}-iw-grd-{polarisation.lower()}-{acq.start:%Y%m%dt%H%M%S}-"
            f"{self.stop:%Y%m%dt%H%M%S}-{acq.absolute_orbit:06d}-{acq.datatake:06x}-{image}-cog"
        )

    def measurement(self, polarisation: str) -> str:
        return f"{self.directory}/measurement/{self.file_stem(polarisation)}.tiff"

    def annotation(self, polarisation: str, kind: str = "product") -> str:
        """The product, ``calibration`` or ``noise`` annotation of one polarisation."""
        stem = self.file_stem(polarisation)
        if kind == "product":
            return f"{self.directory}/annotation/{stem}.xml"
        return f"{self.directory}/annotation/calibration/{kind}-{stem}.xml"

    def incidence(self, sample: Any) -> Any:
        """Incidence angle (degrees) at samples of the product (array or float)."""
        span = FAR_INCIDENCE - NEAR_INCIDENCE
        return NEAR_INCIDENCE + span * (sample + self.acquisition.swath_offset) / SWATH_SAMPLES

    def ground_metres(self, line: Any, sample: Any) -> tuple[Any, Any]:
        """Local metres (east, north of the sample frame's origin, ``landscape.ground_xy``) of
        GDAL image coordinates (``sample``, ``line``): (0.5, 0.5) is the first pixel's centre."""
        from gateway.sample.landscape import ground_xy

        h = math.radians(self.acquisition.heading)
        along = (math.sin(h), math.cos(h))
        across = (math.cos(h), -math.sin(h))  # to the right of the track
        cx, cy = (float(v) for v in ground_xy(CENTRE_LON, CENTRE_LAT))
        dl = (line - self.lines / 2) * PIXEL_SPACING
        ds = (sample - self.samples / 2) * PIXEL_SPACING
        return cx + dl * along[0] + ds * across[0], cy + dl * along[1] + ds * across[1]

    def lonlat(self, line: Any, sample: Any) -> tuple[Any, Any]:
        """Lon/lat of GDAL image coordinates (``sample``, ``line``) of the product."""
        from gateway.sample.landscape import LAT0, LON0, M_PER_DEG_LAT, M_PER_DEG_LON

        x, y = self.ground_metres(line, sample)
        return LON0 + x / M_PER_DEG_LON, LAT0 + y / M_PER_DEG_LAT


def s1_names(acq: S1Acquisition, lines: int) -> tuple[str, str]:
    """(item id, bucket-relative .SAFE folder) in CDSE's COG naming."""
    stop = acq.start + timedelta(seconds=LINE_TIME * (lines - 1))
    crc = uuid.uuid5(uuid.NAMESPACE_URL, f"s1-sample-{acq.seed}").hex[:4].upper()
    item_id = (
        f"{acq.platform}_IW_GRDH_1SDV_{acq.start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
        f"{acq.absolute_orbit:06d}_{acq.datatake:06X}_{crc}_COG"
    )
    folder = f"Sentinel-1/SAR/IW_GRDH_1S-COG/{acq.start:%Y/%m/%d}/{item_id}.SAFE"
    return item_id, folder


def plan_s1(profile: str) -> list[S1Plan]:
    """The GRD products of one profile (``ValueError`` for an unknown one). No I/O."""
    if profile not in S1_PROFILES:
        raise ValueError(f"unknown sample profile {profile!r}; choose from {sorted(S1_PROFILES)}")
    lines, samples = S1_PROFILES[profile]
    plans = []
    for acq in S1_ACQUISITIONS:
        item_id, folder = s1_names(acq, lines)
        plans.append(S1Plan(S1_COLLECTION, item_id, profile, acq, lines, samples, folder))
    return plans
