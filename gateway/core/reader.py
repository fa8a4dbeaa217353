"""Read the bands of one scene onto a target grid, as reflectance."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.io import DatasetReader
from rio_tiler.models import ImageData
from rio_tiler.reader import part

from gateway.config import CollectionConfig
from gateway.core.catalog import Asset, Scene
from gateway.core.cogcache import CogCache
from gateway.core.datasets import OpenDatasets
from gateway.core.grid import Grid
from gateway.core.storage import Storage
from gateway.errors import UpstreamError

log = logging.getLogger(__name__)

# A coarser asset is chosen while its pixel is no bigger than the output pixel times this.
_RESOLUTION_SLACK = 1.01


@dataclass(frozen=True)
class SceneBands:
    """Reflectance (or class) values of some bands of one scene on a grid."""

    bands: dict[str, np.ndarray]  # name -> float32 (h, w)
    valid: np.ndarray  # bool (h, w)


def pick_asset(scene: Scene, band: str, grid: Grid) -> Asset | None:
    """The coarsest asset of ``band`` whose pixels are not larger than the output's."""
    assets = scene.band_assets(band)
    if not assets:
        return None
    crs_code = next((a.proj_code for a in assets if a.proj_code), None)
    if crs_code is None:
        return assets[0]
    out_res = grid.resolution_in(CRS.from_user_input(crs_code))
    fitting = [a for a in assets if (a.gsd or 0.0) <= out_res * _RESOLUTION_SLACK]
    return fitting[-1] if fitting else assets[0]


def scale_and_offset(
    scene: Scene, asset: Asset, collection: CollectionConfig
) -> tuple[float, float]:
    """DN -> reflectance factors: the asset's own, else the collection's defaults.

    Sentinel-2 processing baseline 04.00 and later store DN with a -1000 offset; items
    that do not carry ``raster:offset`` get it from ``processing:version``.
    """
    scale = asset.scale if asset.scale is not None else collection.default_scale
    if asset.offset is not None:
        return scale, asset.offset
    if collection.baseline_offset is not None and _baseline_at_least(
        scene.processing_version, (4, 0)
    ):
        return scale, collection.baseline_offset
    return scale, collection.default_offset


def _baseline_at_least(version: str | None, minimum: tuple[int, int]) -> bool:
    if not version:
        return False
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= minimum


class SceneReader:
    """Reads bands of scenes through one storage; stateless apart from its configuration."""

    def __init__(self, storage: Storage, cog_cache: CogCache | None = None) -> None:
        self._storage = storage
        self._cog_cache = cog_cache if cog_cache is not None else default_cog_cache(storage)
        self._datasets = OpenDatasets()
        storage.protect_logs()

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def cog_cache(self) -> CogCache | None:
        return self._cog_cache

    def read(
        self,
        scene: Scene,
        bands: tuple[str, ...],
        grid: Grid,
        collection: CollectionConfig,
        *,
        resampling: str = "bilinear",
        mask_classes: tuple[str, tuple[int, ...]] | None = None,
    ) -> SceneBands | None:
        """Read ``bands`` (and the cloud-mask band if asked) onto ``grid``.

        Returns None when the scene lacks one of the bands. Categorical bands are
        read with nearest neighbour and without scale/offset.
        """
        wanted = list(bands)
        if mask_classes is not None and mask_classes[0] not in wanted:
            wanted.append(mask_classes[0])
        valid = np.ones((grid.height, grid.width), dtype=bool)
        values: dict[str, np.ndarray] = {}
        storage = self._storage
        with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
            for band in wanted:
                asset = pick_asset(scene, band, grid)
                if asset is None:
                    return None
                categorical = band in collection.categorical_bands
                data, band_valid = self._read_asset(
                    asset, grid, "nearest" if categorical else resampling
                )
                if not categorical:
                    scale, offset = scale_and_offset(scene, asset, collection)
                    data = data * np.float32(scale) + np.float32(offset)
                values[band] = data
                valid &= band_valid
        if mask_classes is not None:
            mask_band, classes = mask_classes
            valid &= ~np.isin(values[mask_band], classes)
            if mask_band not in bands:
                del values[mask_band]
        return SceneBands(values, valid)

    def _read_asset(
        self, asset: Asset, grid: Grid, resampling: str
    ) -> tuple[np.ndarray, np.ndarray]:
        path = self._storage.gdal_path(asset.href)
        cache = self._cog_cache
        local = cache.existing(path) if cache is not None else None
        try:
            if local is None:
                src = self._datasets.get(path)
                if cache is None or not cache.wants(src, grid):
                    image = _part(src, asset, grid, resampling)
                else:  # the whole file would come over the wire: copy it once instead
                    local = cache.local_copy(src)
            if local is not None:
                image = _part(self._datasets.get(local), asset, grid, resampling)
        except (rasterio.errors.RasterioIOError, CPLE_BaseError) as exc:
            self._datasets.discard(path)
            log.warning("cannot read asset %s: %s", asset.key, self._storage.redact(str(exc)))
            raise UpstreamError("the storage service could not deliver a scene") from exc
        array = image.array
        data = np.asarray(array.data[0], dtype=np.float32)
        valid = ~np.ma.getmaskarray(array)[0]
        return data, valid


def _part(src: DatasetReader, asset: Asset, grid: Grid, resampling: str) -> ImageData:
    return part(
        src,
        grid.bounds,
        height=grid.height,
        width=grid.width,
        dst_crs=grid.crs,
        bounds_crs=grid.crs,
        indexes=1,
        nodata=asset.nodata if asset.nodata is not None else src.nodata,
        resampling_method=resampling,
        reproject_method=resampling,
    )


def default_cog_cache(storage: Storage) -> CogCache | None:
    """Remote storage caches COG copies of zoomed-out JP2 bands beside the eodata folder."""
    if storage.mode != "s3" or storage.eodata_dir is None:
        return None
    return CogCache(storage.eodata_dir.parent / "cog-cache")
