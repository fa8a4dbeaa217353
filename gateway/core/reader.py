"""Read the bands of one scene onto a target grid, as reflectance."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.io import DatasetReader

from gateway.core.background import Activity, BackgroundQueue
from gateway.core.catalog import Asset, Scene
from gateway.core.cogcache import CogCache
from gateway.core.crs import parse_crs
from gateway.core.datasets import OpenDatasets
from gateway.core.gdal_requests import gdal_request_meter
from gateway.core.grid import WGS84, Grid
from gateway.core.sar.calibration import SarOptions
from gateway.core.sar.reader import GrdReader
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import VRT_TYPE, Storage
from gateway.core.tally import Tally
from gateway.core.transforms import transformer
from gateway.core.trueup import TrueUp
from gateway.core.upstream import Lease, Quota
from gateway.core.warp import SourceArray, overview_level, read_window, warp
from gateway.errors import InvalidParameterValue, UpstreamError

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import CollectionConfig

log = logging.getLogger(__name__)

# A background index's read waits this long at most for the requests' remote reads to end.
BACKGROUND_GIVES_WAY_S = 1.0
# A coarser asset is chosen while its pixel is no bigger than the output pixel times this.
_RESOLUTION_SLACK = 1.01


@dataclass(frozen=True)
class SceneBands:
    """Reflectance (or class) values of some bands of one scene on a grid."""

    bands: dict[str, np.ndarray]  # name -> float32 (h, w)
    valid: np.ndarray  # bool (h, w)


def pick_asset(scene: Scene, band: str, grid: Grid) -> Asset | None:
    """The coarsest asset of ``band`` whose pixels are not larger than the output's, measured
    at the scene's centre (the same for every window of the grid)."""
    assets = scene.band_assets(band)
    if not assets:
        return None
    crs_code = next((a.proj_code for a in assets if a.proj_code), None)
    if crs_code is None:
        return assets[0]
    try:
        asset_crs = parse_crs(crs_code)
    except InvalidParameterValue:  # not a CRS name the gateway reads: no resolution to compare
        return assets[0]
    out_res = grid.resolution_in(asset_crs, scene_centre(scene, asset_crs))
    fitting = [a for a in assets if (a.gsd or 0.0) <= out_res * _RESOLUTION_SLACK]
    return fitting[-1] if fitting else assets[0]


def scene_centre(scene: Scene, crs: CRS) -> tuple[float, float]:
    """The centre of the scene's bounding box, in ``crs``."""
    west, south, east, north = scene.bbox
    east += 360.0 if east < west else 0.0  # across the antimeridian
    return transformer(WGS84, crs).transform((west + east) / 2, (south + north) / 2)


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
    """Reads bands of scenes through one storage; stateless apart from its configuration.

    Every read of a remote file (opening it, reading a window, copying it into the COG
    cache) is counted in ``tally`` with its estimated requests and bytes (``RemoteCharge``);
    with a ``quota`` it also holds one of the key's connection slots and charges them first,
    and once they end the charge is trued up to the requests GDAL made (``request_meter``,
    ``TrueUp``). Reads that fail count as ``errors``. A remote JPEG 2000 file is opened with
    its tile-part index (``indexes``; None: as it is). Where no process made it yet, it is
    made first, or with ``index_later`` the file is opened as it is and its index made in the
    background (``BackgroundQueue``, ``index_workers`` files at once), its reads giving way
    to the requests' (``remote_reads``, an ``Activity``; ``Quota.lease(yielding=True)``).
    """

    def __init__(
        self,
        storage: Storage,
        cog_cache: CogCache | None = None,
        quota: Quota | None = None,
        charge: RemoteCharge | None = None,
        tally: Tally | None = None,
        indexes: TilePartIndexes | None = None,
        index_later: bool = False,
        index_workers: int = 1,
    ) -> None:
        self._storage = storage
        self._indexes = indexes
        later = index_later and indexes is not None
        self._index_queue = BackgroundQueue("jp2-index", workers=index_workers) if later else None
        self.remote_reads = Activity()  # the requests' reads of remote files in flight
        self._quota = quota
        self.request_meter = gdal_request_meter() if storage.mode != "local" else None
        meter = self.request_meter
        self._true_up = TrueUp(quota, meter) if quota is not None and meter is not None else None
        self._charge = charge or RemoteCharge()
        self.tally = tally if tally is not None else Tally()
        self._cog_cache = cog_cache if cog_cache is not None else default_cog_cache(storage)
        self._datasets = OpenDatasets()
        self._grd = GrdReader(storage, self._datasets)
        storage.protect_logs()

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def cog_cache(self) -> CogCache | None:
        return self._cog_cache

    @property
    def indexes(self) -> TilePartIndexes | None:
        return self._indexes

    @property
    def quota(self) -> Quota | None:
        return self._quota

    @property
    def index_queue(self) -> BackgroundQueue | None:
        """The files being indexed in the background (None: indexed before they are read)."""
        return self._index_queue

    def close(self) -> None:
        """Stop indexing in the background: the file being indexed is finished, the files
        waiting are dropped (a later process indexes them)."""
        if self._index_queue is not None:
            self._index_queue.close(drop_waiting=True)

    def read(
        self,
        scene: Scene,
        bands: tuple[str, ...],
        grid: Grid,
        collection: CollectionConfig,
        *,
        resampling: str = "bilinear",
        mask_classes: tuple[str, tuple[int, ...]] | None = None,
        sar: SarOptions | None = None,
    ) -> SceneBands | None:
        """Read ``bands`` (and the cloud-mask band if asked) onto ``grid``.

        Returns None when the scene lacks one of the bands. Categorical bands are
        read with nearest neighbour and without scale/offset. A Sentinel-1 GRD collection's
        bands are calibrated backscatter as ``sar`` asks (``gateway.core.sar``).
        """
        if collection.kind == "sar-grd":
            return self._read_grd(scene, bands, grid, resampling, sar or SarOptions())
        wanted = list(bands)
        if mask_classes is not None and mask_classes[0] not in wanted:
            wanted.append(mask_classes[0])
        chosen = [pick_asset(scene, collection.item_band(band), grid) for band in wanted]
        assets = [asset for asset in chosen if asset is not None]
        if len(assets) != len(chosen):
            return None
        categorical = [band in collection.categorical_bands for band in wanted]
        storage = self._storage
        zarr = any(asset.media_type == VRT_TYPE for asset in assets)
        with (
            storage.zarr_env()
            if zarr
            else rasterio.Env(session=storage.gdal_session(), **storage.gdal_options())
        ):
            located = [self._locate(asset) for asset in assets]
            remote = [
                (path, asset)
                for (path, copy), asset in zip(located, assets, strict=True)
                if copy is None and path.startswith("/vsi")
            ]
            opened = self._indexed(remote)
            walked = self._walked(remote, opened)
            charged = [(opened.get(p, p), asset) for p, asset in remote]
            with self._charged(charged, grid, walked):
                sources = [
                    self._read_window(
                        asset, path, copy, grid, resampling, categorical=kind, opened=opened
                    )
                    for asset, (path, copy), kind in zip(assets, located, categorical, strict=True)
                ]
        # Continuous bands with the output's resampling, classes by nearest neighbour.
        warped: dict[int, np.ndarray] = {}
        for kind in (False, True):
            picked = [i for i, c in enumerate(categorical) if c is kind]
            if picked:
                method = "nearest" if kind else resampling
                arrays = warp([sources[i] for i in picked], grid, resampling=method)
                warped.update(zip(picked, arrays, strict=True))
        valid = np.ones((grid.height, grid.width), dtype=bool)
        values: dict[str, np.ndarray] = {}
        for index, (band, asset) in enumerate(zip(wanted, assets, strict=True)):
            data = warped[index]
            valid &= np.isfinite(data)
            if not categorical[index]:
                scale, offset = scale_and_offset(scene, asset, collection)
                data = data * np.float32(scale) + np.float32(offset)
            values[band] = data
        if mask_classes is not None:
            mask_band, classes = mask_classes
            valid &= ~np.isin(values[mask_band], classes)
            if mask_band not in bands:
                del values[mask_band]
        return SceneBands(values, valid)

    def _read_grd(
        self, scene: Scene, bands: tuple[str, ...], grid: Grid, resampling: str, sar: SarOptions
    ) -> SceneBands | None:
        """Calibrated Sentinel-1 backscatter of ``bands`` on ``grid``; remote measurement files
        are counted and charged as the optical bands' are (an open, a window each; the
        annotation files, read once per process, are not)."""
        if not bands:  # a constant expression: the map is filled, as for the optical bands
            return SceneBands({}, np.ones((grid.height, grid.width), dtype=bool))
        storage = self._storage
        wanted = {band.lower() for band in bands}
        assets = [a for a in scene.assets if a.key.lower() in wanted]
        if len(assets) != len(wanted):
            return None
        paths = [storage.gdal_path(a.href) for a in assets]
        remote = [(p, a) for p, a in zip(paths, assets, strict=True) if p.startswith("/vsi")]
        with (
            rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()),
            self._storage_errors(paths[0], assets[0]),
            self._charged(remote, grid),
        ):
            read = self._grd.read(scene, bands, grid, resampling=resampling, options=sar)
        return SceneBands(*read) if read is not None else None

    def _locate(self, asset: Asset) -> tuple[str, str | None]:
        """The GDAL path of ``asset``, and its COG copy's when one was made."""
        path = self._storage.gdal_path(asset.href)
        cache = self._cog_cache
        return path, cache.existing(path) if cache is not None else None

    def _indexed(self, remote: list[tuple[str, Asset]]) -> dict[str, str]:
        """The path to open for each large remote JPEG 2000 file of ``remote`` (path, asset):
        with its tile-part index spliced in (``gateway.core.jp2index``). Where no process made
        it yet, it is made first (``make_indexes``), or the file is left out (opened as it
        is) and its index queued (``index_later``)."""
        indexes = self._indexes
        if indexes is None:
            return {}
        opened: dict[str, str] = {}
        missing: list[str] = []
        for path in dict.fromkeys(p for p, asset in remote if indexes.applies(p, asset.shape)):
            known = indexes.opened(path)
            if known is None:
                missing.append(path)
            else:
                opened[path] = known
        if self._index_queue is None:
            opened.update(self.make_indexes(missing))
            return opened
        for path in missing:
            self.queue_index(path)
        return opened

    def queue_index(self, path: str) -> None:
        """Queue the index of ``path`` (``index_later`` on): made in the background, its reads
        giving way to the requests' (``_index``)."""
        assert self._index_queue is not None
        if self._index_queue.submit(path, partial(self._index, path, yielding=True)):
            self.tally.add("indexes_queued")

    def make_indexes(self, paths: list[str]) -> dict[str, str]:
        """Make the indexes of ``paths`` (files whose index was not found) and return the
        path to open for each: the files side by side (4 at most), each on a connection slot
        of its own."""
        if len(paths) <= 1:
            return {path: self._index(path) for path in paths}
        with ThreadPoolExecutor(max_workers=min(len(paths), 4)) as pool:
            made = [pool.submit(contextvars.copy_context().run, self._index, p) for p in paths]
        return dict(zip(paths, (future.result() for future in made), strict=True))

    def _index(self, path: str, *, yielding: bool = False) -> str:
        """Make the tile-part index of ``path`` on a connection slot of the quota, each
        range read charged as a request; the path to open. ``yielding`` (in the background):
        each read waits for the requests' remote reads in this process to end (a second at
        most), then takes a slot of its own when no request of this process waits for one.
        A file that cannot be read now is opened as it is (its read then says why)."""
        assert self._indexes is not None
        quota = self._quota
        held = quota.lease() if quota is not None and not yielding else None

        def slot() -> contextlib.AbstractContextManager[Lease | None]:
            return self._slot_giving_way() if yielding else contextlib.nullcontext(held)

        fetch = self._storage.range_reader(path)
        reads = 0

        def read(offset: int, length: int) -> tuple[bytes, int]:
            nonlocal reads
            with slot() as lease:
                self._spend(lease, "indexing", 1, length)
                reads += 1
                return fetch(offset, length)

        with held if held is not None else contextlib.nullcontext():
            try:
                opened = self._indexes.make(path, read)
            except OSError as exc:
                log.warning("cannot index %s: %s", path, exc)
                return path
        if reads and opened != path:  # indexed here (not by another process, not left as is)
            self.tally.add("indexes")
        return opened

    @contextlib.contextmanager
    def _slot_giving_way(self) -> Iterator[Lease | None]:
        """A connection slot for one background read, taken after the requests' remote reads
        in this process have ended (a second at most) and while none of them waits for one."""
        self.remote_reads.wait_idle(BACKGROUND_GIVES_WAY_S)
        if self._quota is None:
            yield None
            return
        with self._quota.lease(yielding=True) as lease:
            yield lease

    def _walked(self, remote: list[tuple[str, Asset]], opened: dict[str, str]) -> set[str]:
        """The files of ``remote`` (path, asset) that OpenJPEG walks: those to index whose
        index is not known yet (opened as they are while it is made in the background)."""
        indexes = self._indexes
        if indexes is None:
            return set()
        return {p for p, asset in remote if p not in opened and indexes.applies(p, asset.shape)}

    @contextlib.contextmanager
    def _charged(
        self, remote: list[tuple[str, Asset]], grid: Grid, walked: set[str] | None = None
    ) -> Iterator[None]:
        """Hold one connection slot of the quota while a scene's ``remote`` files (path,
        asset) are read on ``grid``, their opens charged one by one and then all their
        windows in one step: a scene is either read whole or refused before any of its
        windows is read (refused half-way, a request would have spent the minute's budget
        for nothing, and under contention every request could be). A file of ``walked``
        opened here is charged the walk of its tile-part headers too (``RemoteCharge.walk``)."""
        if not remote:
            yield
            return
        lease = self._quota.lease() if self._quota is not None else None
        spent = [0, 0]  # requests and bytes charged, trued up when the reads end
        with (
            self.remote_reads.busy(),
            lease if lease is not None else contextlib.nullcontext(),
            self._trued_up(spent),
        ):
            requests = nbytes = 0
            for path, asset in remote:
                with self._storage_errors(path, asset):
                    fresh = not self._datasets.is_open(path)
                    if fresh:
                        self._spend(lease, "opens", self._charge.open, 0, spent=spent)
                    with self._datasets.claim(path), self._datasets.lease(path) as src:
                        window = self._charge.window(src, grid)
                        walk = self._charge.walk(src) if fresh and path in (walked or ()) else 0
                if walk:
                    self._spend(lease, "walks", walk, 0, spent=spent)
                requests, nbytes = requests + window[0], nbytes + window[1]
            self._spend(lease, "windows", requests, nbytes, count=len(remote), spent=spent)
            yield

    @contextlib.contextmanager
    def _trued_up(self, spent: list[int]) -> Iterator[None]:
        """Once the block's GDAL reads end (however they end), true up the quota's charge for
        them (``spent``: requests and bytes) to the requests GDAL made (``TrueUp``)."""
        try:
            yield
        finally:
            if self._true_up is not None:
                self._true_up.ended(spent[0], spent[1])

    def _read_window(
        self,
        asset: Asset,
        path: str,
        copy: str | None,
        grid: Grid,
        resampling: str,
        *,
        categorical: bool,
        opened: dict[str, str],
    ) -> SourceArray | None:
        """The window of ``asset`` (at ``path``, opened as ``opened`` says) that ``grid``
        needs, from its COG ``copy`` where one exists, else from the file level that fits (a
        remote one charged by ``_charged`` first). A remote JPEG 2000 file that the map covers
        mostly is then copied into the COG cache in the background: the request never waits
        for it."""
        cache = self._cog_cache
        source_path = opened.get(path, path)
        with self._storage_errors(source_path, asset):
            if copy is not None:
                with self._datasets.lease(copy) as src:
                    return self._read(src, copy, asset, grid, resampling, categorical)
            with self._datasets.claim(source_path), self._datasets.lease(source_path) as src:
                source = self._read(src, source_path, asset, grid, resampling, categorical)
                wanted = cache is not None and cache.wants(src, grid)
                if cache is not None and not wanted:
                    cache.count_read(src)
        if cache is not None and wanted:
            cache.copy_later(path, partial(self._open_for_copy, source_path, asset))
        return source

    @contextlib.contextmanager
    def _storage_errors(self, path: str, asset: Asset) -> Iterator[None]:
        """Storage failures inside counted, logged (keys redacted) and raised as
        ``UpstreamError``."""
        try:
            yield
        except (rasterio.errors.RasterioIOError, CPLE_BaseError) as exc:
            self.tally.add("errors")
            self._datasets.discard(path)
            log.warning("cannot read asset %s: %s", asset.key, self._storage.redact(str(exc)))
            raise UpstreamError("the storage service could not deliver a scene") from exc

    @contextlib.contextmanager
    def _open_for_copy(self, path: str, asset: Asset) -> Iterator[DatasetReader]:
        """``path`` opened for its COG copy (in the cache's background thread): in the
        storage's GDAL environment, on a connection slot of the quota, charged as an open and
        a copy of the whole file."""
        storage = self._storage
        lease = self._quota.lease() if self._quota is not None else None
        spent = [0, 0]
        with (
            self._storage_errors(path, asset),
            rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()),
            lease if lease is not None else contextlib.nullcontext(),
            self._trued_up(spent),
        ):
            self._spend(lease, "opens", self._charge.open, 0, spent=spent)
            with rasterio.open(path) as src:
                self._spend(lease, "copies", *self._charge.whole_file(src), spent=spent)
                yield src

    def _spend(
        self,
        lease: Lease | None,
        kind: str,
        requests: int,
        nbytes: int,
        count: int = 1,
        spent: list[int] | None = None,
    ) -> None:
        """Charge ``count`` remote reads of ``kind``, their estimate in one step, to the
        lease (all, or none when the quota refuses them), then count them as charged (and
        add them to ``spent``, requests and bytes, when given)."""
        if lease is not None:
            lease.take(requests, nbytes)
            if spent is not None:
                spent[0] += requests
                spent[1] += nbytes
        tally = self.tally
        tally.add(kind, count)
        tally.add("requests", requests)
        tally.add("bytes", nbytes)

    def _read(
        self,
        src: DatasetReader,
        path: str,
        asset: Asset,
        grid: Grid,
        resampling: str,
        categorical: bool,
    ) -> SourceArray | None:
        """Read from the level of ``src`` (``path``) that fits the grid (``read_level``),
        opened as a dataset of its own; classes by nearest neighbour, and a categorical file
        of several bands (L1C's MSK_CLASSI) as one value of bit flags."""
        nodata = asset.nodata if asset.nodata is not None else src.nodata
        method = "nearest" if categorical else resampling
        flags = categorical and src.count > 1
        level = read_level(src, grid, categorical=categorical)
        if level is None:
            return read_window(src, grid, nodata=nodata, resampling=method, flags=flags)
        with self._datasets.lease(path, level) as overview:
            return read_window(overview, grid, nodata=nodata, resampling=method, flags=flags)


def read_level(src: DatasetReader, grid: Grid, *, categorical: bool) -> int | None:
    """The level of ``src`` to read for ``grid`` (``overview_level``), but the full resolution
    for classes: a JPEG 2000 resolution level is a wavelet low-pass, which blends class values
    into others (SCL's vegetation 4 and cirrus 10 into 7, "unclassified"), and the COG copies
    keep those levels as their overviews."""
    return None if categorical else overview_level(src, grid)


@dataclass(frozen=True)
class RemoteCharge:
    """What one remote read is charged to the quota, estimated (GDAL does its own HTTP).

    Measured through a counting proxy (docs/cdse-quotas.md): opening a file took one request
    (its first 32 kB), reading one window of it 1-3 more (one per range GDAL could not merge);
    GDAL reads at most ``chunk`` bytes per request when it reads a file on (its chunk grows to
    2 MB on sequential reads). Bytes are the uncompressed size of what is read: above what S3
    sends for compressed files, so the month's budget is spent early rather than late. GDAL's
    own caches (open datasets, downloaded ranges) make the true figures lower still.
    """

    per_read: int = 3
    open: int = 1
    chunk: int = 2 * 2**20

    def window(self, src: DatasetReader, grid: Grid) -> tuple[int, int]:
        """Requests and bytes of the window of ``src`` that ``grid`` reads (at the output's
        size, plus a block of the file for the edges)."""
        block_h, block_w = src.block_shapes[0]
        pixels = grid.width * grid.height + block_h * block_w
        nbytes = min(pixels, src.width * src.height) * _itemsize(src) * src.count
        return self.per_read + nbytes // self.chunk, nbytes

    def walk(self, src: DatasetReader) -> int:
        """Requests of OpenJPEG's walk of ``src``'s tile-part headers (a JPEG 2000 file
        without a TLM marker): one per tile, at most, once per open dataset."""
        block_h, block_w = src.block_shapes[0]
        return -(-src.height // block_h) * -(-src.width // block_w)

    def whole_file(self, src: DatasetReader) -> tuple[int, int]:
        """Requests and bytes of a copy of all of ``src`` (its full-resolution pixels)."""
        nbytes = src.width * src.height * _itemsize(src) * src.count
        return self.per_read + nbytes // self.chunk, nbytes


def _itemsize(src: DatasetReader) -> int:
    return int(np.dtype(src.dtypes[0]).itemsize)


# Reads of one local JPEG 2000 file after which it is copied into a COG.
HOT_READS = 2


def default_cog_cache(storage: Storage) -> CogCache | None:
    """COG copies beside the eodata folder: zoomed-out remote JP2 bands, hot local ones."""
    if storage.eodata_dir is None:
        return None
    return CogCache(storage.eodata_dir.parent / "cog-cache", hot_reads=HOT_READS)
