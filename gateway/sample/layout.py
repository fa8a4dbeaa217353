"""What the sample archive holds: tiles, windows, acquisitions, and the CDSE names and paths.

Everything here is pure data: :func:`plan_sample` tells what would be written without any I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

L2A_COLLECTION = "sentinel-2-l2a"
L1C_COLLECTION = "sentinel-2-l1c"
MOSAIC_COLLECTION = "sentinel-2-global-mosaics"
PROCESSING_BASELINE = "05.11"

TILE_PIXELS = 10980  # an MGRS tile at 10 m
TILE_RES = 10


@dataclass(frozen=True)
class Tile:
    """A real MGRS tile: its UTM zone and the upper-left corner of its 10 m grid."""

    name: str  # e.g. "31UFU"
    epsg: int
    ulx: float
    uly: float

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"


@dataclass(frozen=True)
class Window:
    """A window of a tile's 10 m grid (offsets and sizes in 10 m pixels)."""

    col_off: int
    row_off: int
    width: int
    height: int


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: GDAL-order affine transform, (rows, cols) shape, bbox."""

    res: int
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        a, _, c, _, e, f = self.transform
        rows, cols = self.shape
        return (c, f + e * rows, c + a * cols, f)


@dataclass(frozen=True)
class Acquisition:
    """One Sentinel-2 datatake over the sample area and how cloudy the synthetic sky is."""

    platform: str  # "S2B"
    sensing: datetime  # datatake sensing start, UTC
    processed: datetime  # product discriminator (processing time)
    absolute_orbit: int
    relative_orbit: int
    cloud_fraction: float  # target fraction of thick cloud over the sample area
    cirrus_fraction: float  # target fraction of thin cirrus
    seed: int
    swath_edge_tiles: tuple[str, ...] = ()  # tiles cut by the swath edge (no-data corner)

    @property
    def platform_name(self) -> str:
        return "sentinel-2" + self.platform[-1].lower()


TILES: dict[str, Tile] = {
    "31UFU": Tile("31UFU", 32631, 599980.0, 5900020.0),
    "32ULD": Tile("32ULD", 32632, 299980.0, 5900020.0),
}

#: Windows written per profile: small keeps the tiles' facing edges, 4 km of common ground.
PROFILES: dict[str, dict[str, Window]] = {
    "small": {
        "31UFU": Window(col_off=9780, row_off=6000, width=1200, height=1200),
        "32ULD": Window(col_off=0, row_off=6000, width=1200, height=1200),
    },
    "full": {name: Window(0, 0, TILE_PIXELS, TILE_PIXELS) for name in TILES},
}


def _t(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)


#: The datatakes, one relative orbit (R094) seen by S2C and S2B. Both tiles share each datatake.
ACQUISITIONS: tuple[Acquisition, ...] = (
    Acquisition(
        "S2C", _t("20250529T105621.024"), _t("20250529T131042.0"), 3782, 94,
        cloud_fraction=0.30, cirrus_fraction=0.07, seed=529,
    ),
    Acquisition(
        "S2B", _t("20250603T105619.024"), _t("20250603T131525.0"), 43210, 94,
        cloud_fraction=0.62, cirrus_fraction=0.05, seed=603,
    ),
    Acquisition(
        "S2B", _t("20250613T105619.024"), _t("20250613T122917.0"), 43353, 94,
        cloud_fraction=0.004, cirrus_fraction=0.0, seed=613, swath_edge_tiles=("32ULD",),
    ),
    Acquisition(
        "S2B", _t("20250623T105619.024"), _t("20250623T130233.0"), 43496, 94,
        cloud_fraction=0.12, cirrus_fraction=0.04, seed=623,
    ),
)  # fmt: skip

#: The quarter the mosaic collection covers.
MOSAIC_START = datetime(2025, 4, 1, tzinfo=UTC)
MOSAIC_END = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)
MOSAIC_QUARTER = "2025_Q2"


@dataclass(frozen=True)
class ScenePlan:
    """One item of the archive: its id, tile, window, date, grid per resolution and paths.

    ``directory`` is the product folder relative to the ``eodata`` bucket root
    (``s3://eodata/<directory>``). L2A and L1C plans carry their ``acquisition`` and
    ``granule_id``.
    """

    collection: str
    item_id: str
    profile: str
    tile: Tile
    window: Window
    datetime: datetime
    grids: dict[int, Grid] = field(hash=False)
    directory: str
    acquisition: Acquisition | None = None
    granule_id: str | None = None

    @property
    def product_name(self) -> str:
        """The folder name of the product (``<id>.SAFE`` for L2A and L1C)."""
        return self.directory.rsplit("/", 1)[-1]

    @property
    def granule_dir(self) -> str:
        return f"{self.directory}/GRANULE/{self.granule_id}"

    def layer_path(self, layer: str, res: int = 10) -> str:
        """Bucket-relative path of one band/layer file at one resolution."""
        if self.collection == MOSAIC_COLLECTION:
            return f"{self.directory}/{layer}.tif"
        stamp = _stamp(self.datetime)
        if self.collection == L1C_COLLECTION:  # one file per band, at its native resolution
            if layer == "MSK_CLASSI":
                return f"{self.granule_dir}/QI_DATA/MSK_CLASSI_B00.jp2"
            return f"{self.granule_dir}/IMG_DATA/T{self.tile.name}_{stamp}_{layer}.jp2"
        return f"{self.granule_dir}/IMG_DATA/R{res}m/T{self.tile.name}_{stamp}_{layer}_{res}m.jp2"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S")


def tile_grid(tile: Tile, window: Window, res: int) -> Grid:
    """The grid of a window of a tile at 10, 20 or 60 m, aligned on the tile's own grid."""
    factor = res // TILE_RES
    if window.width % factor or window.height % factor:
        raise ValueError(f"window {window} does not align with the {res} m grid")
    x0 = tile.ulx + window.col_off * TILE_RES
    y0 = tile.uly - window.row_off * TILE_RES
    shape = (window.height // factor, window.width // factor)
    return Grid(res, (float(res), 0.0, x0, 0.0, -float(res), y0), shape)


def l2a_names(acq: Acquisition, tile: Tile, level: str = "L2A") -> tuple[str, str, str]:
    """(product id, granule id, bucket-relative .SAFE folder) in the CDSE naming pattern of
    one processing ``level`` (L2A or L1C)."""
    product = (
        f"{acq.platform}_MSI{level}_{_stamp(acq.sensing)}_N{PROCESSING_BASELINE.replace('.', '')}"
        f"_R{acq.relative_orbit:03d}_T{tile.name}_{_stamp(acq.processed)}"
    )
    granule_time = acq.sensing + timedelta(seconds=1)
    granule = f"{level}_T{tile.name}_A{acq.absolute_orbit:06d}_{_stamp(granule_time)}"
    day = acq.sensing
    folder = f"Sentinel-2/MSI/{level}/{day:%Y/%m/%d}/{product}.SAFE"
    return product, granule, folder


def mosaic_names(tile: Tile) -> tuple[str, str]:
    """(item id, bucket-relative folder) of the quarterly mosaic of one tile."""
    item_id = f"Sentinel-2_mosaic_{MOSAIC_QUARTER}_{tile.name}_0_0"
    folder = f"Global-Mosaics/Sentinel-2/S2MSI_L3__MCQ/{MOSAIC_START:%Y/%m/%d}/{item_id}"
    return item_id, folder


def plan_sample(profile: str) -> list[ScenePlan]:
    """Every item the archive of one profile holds: the L2A scenes, the L1C scenes of the
    same datatakes and tiles, then the mosaics.

    No I/O. Raises ``ValueError`` for an unknown profile.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown sample profile {profile!r}; choose from {sorted(PROFILES)}")
    windows = PROFILES[profile]
    plans: list[ScenePlan] = []
    for collection, level in ((L2A_COLLECTION, "L2A"), (L1C_COLLECTION, "L1C")):
        for acq in ACQUISITIONS:
            for name, window in windows.items():
                plans.append(_scene_plan(collection, level, acq, TILES[name], window, profile))
    plans += mosaic_plans(profile, MOSAIC_COLLECTION, MOSAIC_START, 10, mosaic_names)
    return plans


def _scene_plan(
    collection: str, level: str, acq: Acquisition, tile: Tile, window: Window, profile: str
) -> ScenePlan:
    """The plan of one L2A or L1C product."""
    product, granule, folder = l2a_names(acq, tile, level)
    return ScenePlan(
        collection=collection,
        item_id=product,
        profile=profile,
        tile=tile,
        window=window,
        datetime=acq.sensing,
        grids={r: tile_grid(tile, window, r) for r in (10, 20, 60)},
        directory=folder,
        acquisition=acq,
        granule_id=granule,
    )


def mosaic_plans(
    profile: str,
    collection: str,
    when: datetime,
    res: int,
    names: Callable[[Tile], tuple[str, str]],
) -> list[ScenePlan]:
    """One mosaic item of ``collection`` per tile window of ``profile``, on its ``res`` m
    grid, named by ``names(tile)`` -> (item id, bucket-relative folder)."""
    plans = []
    for name, window in PROFILES[profile].items():
        tile = TILES[name]
        item_id, folder = names(tile)
        plans.append(
            ScenePlan(
                collection=collection,
                item_id=item_id,
                profile=profile,
                tile=tile,
                window=window,
                datetime=when,
                grids={res: tile_grid(tile, window, res)},
                directory=folder,
            )
        )
    return plans


def product_uuid(item_id: str) -> str:
    """A stable UUID standing in for the CDSE OData product id of an item."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/cdse-gateway/sample/{item_id}"))
