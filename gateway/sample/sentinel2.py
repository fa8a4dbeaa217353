"""Write one Sentinel-2 L2A product as CDSE stores it: a .SAFE tree of JPEG 2000 files.

Rows are rendered in strips (bounded memory for full tiles) and every layer of every
resolution is derived from the same 10 m rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio import features
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from gateway.sample import safe_metadata, scl
from gateway.sample.bands import DN_OFFSET, DN_SCALE, MODEL_BANDS, RESOLUTIONS, TCI_BANDS, layers
from gateway.sample.encode import RasterSink, file_facts, read_resampled, write_jpeg
from gateway.sample.geo import footprint_lonlat, rounded
from gateway.sample.layout import ScenePlan
from gateway.sample.render import Strip, render_strip
from gateway.sample.resample import block_all, block_any, block_mean, block_mode, upsample
from gateway.sample.results import FileFacts, ItemResult
from gateway.sample.solar import scene_sun

STRIP_PIXELS = 2_200_000  # 10 m pixels rendered at once
QUICKLOOK_FACTOR = 32  # a 10980 px tile gives CDSE's 343 px quicklook
_BAND_INDEX = {b: i for i, b in enumerate(MODEL_BANDS)}


def to_dn(refl: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Baseline 04.00+ digital numbers: round((refl + 0.1) * 10000), 1..65535, 0 = no data."""
    dn = np.clip(np.rint((refl - DN_OFFSET) / DN_SCALE), 1, 65535).astype(np.uint16)
    dn[~valid] = 0
    return dn


def to_tci(rgb: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """True-colour uint8 from red, green, blue reflectance: 1..255, 0 = no data."""
    tci = np.clip(np.rint(rgb / 0.2 * 254) + 1, 1, 255).astype(np.uint8)
    tci[:, ~valid] = 0
    return tci


def _quantised(values: np.ndarray, valid: np.ndarray, per_unit: float) -> np.ndarray:
    out = np.clip(np.rint(values * per_unit), 1, 65535).astype(np.uint16)
    out[~valid] = 0
    return out


def derive_layers(strip: Strip) -> dict[tuple[str, int], np.ndarray]:
    """Every (layer, resolution) array of a strip: DN bands, TCI, AOT, WVP, SCL."""
    out: dict[tuple[str, int], np.ndarray] = {}
    labels = {20: block_mode(strip.scl, 2, scl.MODE_PRIORITY)}
    labels[60] = block_mode(labels[20], 3, scl.MODE_PRIORITY)
    for res in (60, 20, 10):  # 60 m first: B01 at 20 m is upsampled from it
        f = res // 10
        valid = block_all(strip.valid, f)
        refl = block_mean(strip.refl, f)
        for layer in layers(res):
            if layer == "TCI":
                rgb = refl[[_BAND_INDEX[b] for b in TCI_BANDS]]
                out[layer, res] = to_tci(rgb, valid)
            elif layer == "AOT":
                out[layer, res] = _quantised(block_mean(strip.aot, f), valid, 1000)
            elif layer == "WVP":
                out[layer, res] = _quantised(block_mean(strip.wvp, f), valid, 1000)
            elif layer == "SCL":
                out[layer, res] = np.where(valid, labels[res], scl.NODATA).astype(np.uint8)
            elif layer == "B01" and res == 20:
                out[layer, res] = upsample(out["B01", 60], 3)
            else:
                out[layer, res] = to_dn(refl[_BAND_INDEX[layer]], valid)
    return out


def strip_rows(plan: ScenePlan) -> int:
    rows, cols = plan.grids[10].shape
    return max(6, min(rows, STRIP_PIXELS // cols // 6 * 6))


def footprint(valid60: np.ndarray, plan: ScenePlan) -> dict:
    """Lon/lat polygon around the pixels with data (hull of the 60 m any-valid mask)."""
    grid = plan.grids[60]
    polys = [
        shape(geom)
        for geom, value in features.shapes(
            valid60.astype(np.uint8), mask=valid60, transform=rasterio.Affine(*grid.transform)
        )
        if value == 1
    ]
    # The convex hull never cuts off pixels with data; simplifying it moves edges < res/2.
    merged = unary_union(polys).convex_hull.simplify(grid.res / 2)
    return rounded(footprint_lonlat(mapping(merged), plan.tile.epsg))


def render_files(
    plan: ScenePlan,
    sun: tuple[float, float],
    eodata: Path,
    sinks: dict[tuple[str, int], RasterSink],
    derive: Callable[[Strip], dict[tuple[str, int], np.ndarray]],
    observe: Callable[[Strip, dict[tuple[str, int], np.ndarray]], None],
) -> None:
    """Render every strip of ``plan``, write ``derive(strip)``'s (layer, resolution) arrays
    into ``sinks`` and encode them to their JPEG 2000 files; ``observe`` sees each strip and
    its arrays. On failure no file is left half written."""
    step = strip_rows(plan)
    try:
        for row0 in range(0, plan.grids[10].shape[0], step):
            nrows = min(step, plan.grids[10].shape[0] - row0)
            strip = render_strip(plan, row0, nrows, sun)
            arrays = derive(strip)
            for (layer, res), data in arrays.items():
                sinks[layer, res].write(data, row0 * 10 // res)
            observe(strip, arrays)
        for (layer, res), sink in sinks.items():
            sink.finish_jp2(eodata / plan.layer_path(layer, res))
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise


def _render_rasters(
    plan: ScenePlan, sun: tuple[float, float], eodata: Path, scratch: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Render all strips into the band files; returns SCL 20 m counts and the 60 m valid mask."""
    sinks: dict[tuple[str, int], RasterSink] = {}
    for res in RESOLUTIONS:
        for layer in layers(res):
            dtype = "uint8" if layer in ("TCI", "SCL") else "uint16"
            sinks[layer, res] = RasterSink(
                scratch / f"{layer}_{res}m.tif",
                plan.grids[res],
                plan.tile.crs,
                dtype,
                count=3 if layer == "TCI" else 1,
            )
    counts = np.zeros(len(scl.CLASSES), dtype=np.int64)
    valid60: list[np.ndarray] = []

    def observe(strip: Strip, arrays: dict[tuple[str, int], np.ndarray]) -> None:
        counts[:] += np.bincount(arrays["SCL", 20].ravel(), minlength=len(scl.CLASSES))
        valid60.append(block_any(strip.valid, 6))

    render_files(plan, sun, eodata, sinks, derive_layers, observe)
    return counts, np.concatenate(valid60)


def write_quicklook(
    plan: ScenePlan, eodata: Path, tci: tuple[str, int]
) -> tuple[FileFacts, tuple[int, int]]:
    """The product's ``-ql.jpg`` (from the ``tci`` (layer, resolution) file) and its shape."""
    rows, cols = plan.grids[10].shape
    shape_ = (max(1, rows // QUICKLOOK_FACTOR), max(1, cols // QUICKLOOK_FACTOR))
    rel = f"{plan.directory}/{plan.item_id}-ql.jpg"
    write_jpeg(eodata / rel, read_resampled(eodata / plan.layer_path(*tci), shape_))
    return file_facts(eodata, rel), shape_


def write_metadata(
    plan: ScenePlan,
    eodata: Path,
    image_files: list[tuple[str, int]],
    qi: dict[str, float],
    geometry: dict,
    sun: tuple[float, float],
) -> dict[str, FileFacts]:
    """MTD_TL.xml, MTD_MSIL2A.xml (or MTD_MSIL1C.xml), INSPIRE.xml and MTD_DS.xml, by asset
    key; ``image_files`` are the (layer, resolution) files listed, ``qi`` the tile's quality
    percentages (with ``CLOUDY_PIXEL_PERCENTAGE``)."""
    lon = [p[0] for p in geometry["coordinates"][0]]
    lat = [p[1] for p in geometry["coordinates"][0]]
    listed = [
        plan.layer_path(layer, res)[len(plan.directory) + 1 : -len(".jp2")]
        for layer, res in image_files
    ]
    cover = qi["CLOUDY_PIXEL_PERCENTAGE"]
    texts = {
        "granule_metadata": (
            f"{plan.granule_dir}/MTD_TL.xml",
            safe_metadata.tile_metadata(plan, sun, qi),
        ),
        "product_metadata": (
            f"{plan.directory}/MTD_MSIL{safe_metadata.level(plan)}.xml",
            safe_metadata.product_metadata(plan, listed, cover),
        ),
        "inspire_metadata": (
            f"{plan.directory}/INSPIRE.xml",
            safe_metadata.inspire_metadata(plan, (min(lon), min(lat), max(lon), max(lat))),
        ),
        "datastrip_metadata": (
            f"{safe_metadata.datastrip_dir(plan)}/MTD_DS.xml",
            safe_metadata.datastrip_metadata(plan),
        ),
    }
    files = {}
    for key, (rel, text) in texts.items():
        (eodata / rel).parent.mkdir(parents=True, exist_ok=True)
        (eodata / rel).write_text(text, encoding="utf-8")
        files[key] = file_facts(eodata, rel)
    return files


def write_manifest(plan: ScenePlan, eodata: Path, files: dict[str, FileFacts]) -> FileFacts:
    """manifest.safe listing ``files``."""
    listed = [(f.path[len(plan.directory) + 1 :], f.size, f.md5) for f in files.values()]
    manifest = f"{plan.directory}/manifest.safe"
    (eodata / manifest).write_text(safe_metadata.manifest(plan, listed), encoding="utf-8")
    return file_facts(eodata, manifest)


def _quality(counts: np.ndarray) -> dict[str, float]:
    """The tile's quality percentages from its SCL 20 m counts."""
    pct = scl.percentages(counts)
    return {
        "NODATA_PIXEL_PERCENTAGE": pct[scl.NODATA],
        "CLOUDY_PIXEL_PERCENTAGE": scl.cloud_cover(counts),
        "VEGETATION_PERCENTAGE": pct[scl.VEGETATION],
        "NOT_VEGETATED_PERCENTAGE": pct[scl.NOT_VEGETATED],
        "WATER_PERCENTAGE": pct[scl.WATER],
        "CLOUD_SHADOW_PERCENTAGE": pct[scl.CLOUD_SHADOW],
        "THIN_CIRRUS_PERCENTAGE": pct[scl.THIN_CIRRUS],
        "SNOW_ICE_PERCENTAGE": pct[scl.SNOW],
    }


def write_scene(plan: ScenePlan, eodata: Path, scratch: Path) -> ItemResult:
    """Write the .SAFE product of an L2A plan under ``eodata``; return what the item needs."""
    scratch.mkdir(parents=True, exist_ok=True)
    sun = scene_sun(plan)
    counts, valid60 = _render_rasters(plan, sun, eodata, scratch)
    geometry = footprint(valid60, plan)
    files = {
        f"{layer}_{res}m": file_facts(eodata, plan.layer_path(layer, res))
        for res in RESOLUTIONS
        for layer in layers(res)
    }
    image_files = [(layer, res) for res in RESOLUTIONS for layer in layers(res)]
    return finish_product(
        plan, eodata, files, ("TCI", 60), image_files, _quality(counts), geometry, sun, counts
    )


def finish_product(
    plan: ScenePlan,
    eodata: Path,
    files: dict[str, FileFacts],
    tci: tuple[str, int],
    image_files: list[tuple[str, int]],
    qi: dict[str, float],
    geometry: dict,
    sun: tuple[float, float],
    counts: np.ndarray,
) -> ItemResult:
    """Write the quicklook (from ``tci``), the metadata XMLs and manifest.safe of a product
    whose rasters are ``files``; return what its item needs (``counts`` as ``scl_counts``)."""
    files["thumbnail"], ql_shape = write_quicklook(plan, eodata, tci)
    files.update(write_metadata(plan, eodata, image_files, qi, geometry, sun))
    files["safe_manifest"] = write_manifest(plan, eodata, files)
    return ItemResult(
        item_id=plan.item_id,
        files=files,
        geometry=geometry,
        scl_counts=tuple(int(c) for c in counts),
        sun=sun,
        shapes={"thumbnail": ql_shape},
    )
