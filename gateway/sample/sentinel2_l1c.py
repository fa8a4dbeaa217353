"""Write one Sentinel-2 L1C product as CDSE stores it: a .SAFE tree of JPEG 2000 files.

One file per band at its native resolution (``IMG_DATA/T<tile>_<time>_<band>.jp2``), the
true-colour ``TCI`` at 10 m, and the baseline 04.00+ cloud mask ``QI_DATA/MSK_CLASSI_B00.jp2``
(60 m, three bands: opaque clouds, cirrus, snow; 1 = flagged). TOA values come from the same
rendering as the L2A product of the same datatake and tile (``gateway.sample.toa``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.sample import scl
from gateway.sample.bands import L1C_BANDS, MODEL_BANDS, TCI_BANDS, band_info
from gateway.sample.encode import RasterSink, file_facts
from gateway.sample.layout import ScenePlan
from gateway.sample.render import Strip
from gateway.sample.resample import block_all, block_any, block_mean, block_mode
from gateway.sample.results import ItemResult
from gateway.sample.sentinel2 import (
    finish_product,
    footprint,
    render_files,
    to_dn,
    to_tci,
)
from gateway.sample.solar import scene_sun
from gateway.sample.toa import cirrus_band, toa_reflectance

MASK = "MSK_CLASSI"
#: MSK_CLASSI bands (1-based) and the SCL classes each one flags.
MASK_BANDS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("OPAQUE", (scl.CLOUD_MEDIUM, scl.CLOUD_HIGH)),
    ("CIRRUS", (scl.THIN_CIRRUS,)),
    ("SNOW", (scl.SNOW,)),
)
_BAND_INDEX = {b: i for i, b in enumerate(MODEL_BANDS)}


def l1c_layers() -> list[tuple[str, int]]:
    """Every (layer, resolution) file of an L1C product, bands in MSI order."""
    out = [(band, band_info(band).native_gsd) for band in L1C_BANDS]
    return [*out, ("TCI", 10), (MASK, 60)]


def cloud_mask(labels60: np.ndarray, valid60: np.ndarray) -> np.ndarray:
    """MSK_CLASSI (3, h, w) uint8 from the 60 m scene classification; 0 where no data."""
    out = np.stack([np.isin(labels60, classes) for _, classes in MASK_BANDS]).astype(np.uint8)
    out[:, ~valid60] = 0
    return out


def derive_layers(strip: Strip) -> dict[tuple[str, int], np.ndarray]:
    """Every (layer, resolution) array of a strip: TOA DN bands, TCI and the cloud mask."""
    toa = toa_reflectance(strip.refl)
    labels60 = block_mode(block_mode(strip.scl, 2, scl.MODE_PRIORITY), 3, scl.MODE_PRIORITY)
    out: dict[tuple[str, int], np.ndarray] = {}
    for layer, res in l1c_layers():
        f = res // 10
        valid = block_all(strip.valid, f)
        if layer == "TCI":
            out[layer, res] = to_tci(toa[[_BAND_INDEX[b] for b in TCI_BANDS]], valid)
        elif layer == MASK:
            out[layer, res] = cloud_mask(labels60, valid)
        elif layer == "B10":
            out[layer, res] = to_dn(cirrus_band(labels60), valid)
        else:
            out[layer, res] = to_dn(block_mean(toa[_BAND_INDEX[layer]], f), valid)
    return out


def _render_rasters(
    plan: ScenePlan, sun: tuple[float, float], eodata: Path, scratch: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Render all strips into the files; returns the mask's counts (valid, opaque, cirrus,
    snow pixels at 60 m) and the 60 m valid mask."""
    sinks: dict[tuple[str, int], RasterSink] = {}
    for layer, res in l1c_layers():
        sinks[layer, res] = RasterSink(
            scratch / f"{layer}_{res}m.tif",
            plan.grids[res],
            plan.tile.crs,
            "uint8" if layer in ("TCI", MASK) else "uint16",
            count=3 if layer in ("TCI", MASK) else 1,
        )
    counts = np.zeros(1 + len(MASK_BANDS), dtype=np.int64)
    valid60: list[np.ndarray] = []

    def observe(strip: Strip, arrays: dict[tuple[str, int], np.ndarray]) -> None:
        counts[0] += int(block_all(strip.valid, 6).sum())
        counts[1:] += arrays[MASK, 60].reshape(len(MASK_BANDS), -1).sum(axis=1, dtype=np.int64)
        valid60.append(block_any(strip.valid, 6))

    render_files(plan, sun, eodata, sinks, derive_layers, observe)
    return counts, np.concatenate(valid60)


def mask_percentages(counts: tuple[int, ...] | np.ndarray) -> dict[str, float]:
    """Cloud cover (opaque or cirrus), and each flag's share, in % of the pixels with data."""
    valid = max(int(counts[0]), 1)
    pct = {
        name: round(100.0 * int(n) / valid, 6)
        for (name, _), n in zip(MASK_BANDS, counts[1:], strict=True)
    }
    pct["CLOUDY"] = round(min(100.0, pct["OPAQUE"] + pct["CIRRUS"]), 6)
    return pct


def write_l1c_scene(plan: ScenePlan, eodata: Path, scratch: Path) -> ItemResult:
    """Write the .SAFE product of an L1C plan under ``eodata``; return what the item needs.

    ``scl_counts`` of the result holds the mask counts (valid, opaque, cirrus, snow)."""
    scratch.mkdir(parents=True, exist_ok=True)
    sun = scene_sun(plan)
    counts, valid60 = _render_rasters(plan, sun, eodata, scratch)
    geometry = footprint(valid60, plan)
    files = {layer: file_facts(eodata, plan.layer_path(layer, res)) for layer, res in l1c_layers()}
    pct = mask_percentages(counts)
    qi = {
        "CLOUDY_PIXEL_PERCENTAGE": pct["CLOUDY"],
        "OPAQUE_CLOUDS_PERCENTAGE": pct["OPAQUE"],
        "CIRRUS_CLOUDS_PERCENTAGE": pct["CIRRUS"],
        "SNOW_ICE_PERCENTAGE": pct["SNOW"],
    }
    image_files = [(layer, res) for layer, res in l1c_layers() if layer != MASK]
    return finish_product(plan, eodata, files, ("TCI", 10), image_files, qi, geometry, sun, counts)
