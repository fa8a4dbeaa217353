"""Write one Sentinel-1 IW GRDH product like CDSE's COG products: a .SAFE folder with the VV
and VH measurements as uint16 COGs georeferenced by GCPs only (no geotransform; overviews are
root-mean-square, so an overview's DN² is the mean DN² it covers), the annotation,
calibration and noise XMLs, a manifest and a thumbnail.

DN² = sigma0 x sigmaNought² x speckle + noise: sigma0 by land cover of the same synthetic
ground the optical products show (water dark, towns bright, crops brightening through June),
speckle of 4.4 looks, noise from the noise annotation's model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.shutil import copy as gdal_copy
from shapely.geometry import Polygon, mapping
from shapely.geometry.polygon import orient

from gateway.sample import s1_annotation as ann
from gateway.sample.encode import file_facts, write_picture
from gateway.sample.geo import rounded
from gateway.sample.landscape import Cover, ground, vigour
from gateway.sample.results import ItemResult
from gateway.sample.s1_layout import BORDER_SAMPLES, S1Plan

POLARISATIONS = ("VV", "VH")
LOOKS = 4.4  # equivalent number of looks of IW GRDH
THUMBNAIL = 343
_ENV = {"GDAL_PAM_ENABLED": "NO", "GDAL_NUM_THREADS": "1", "CPL_LOG_ERRORS": "OFF"}

# sigma0 in dB per cover: (VV, VH) at vigour 0 and their gain at vigour 1.
_SIGMA_DB = {
    Cover.WATER: ((-21.0, -27.0), (0.0, 0.0)),
    Cover.FOREST: ((-7.5, -13.0), (0.0, 0.0)),
    Cover.CROPS: ((-13.0, -22.0), (5.0, 8.0)),
    Cover.GRASS: ((-12.0, -20.0), (2.0, 3.0)),
    Cover.BARE: ((-12.5, -21.5), (0.0, 0.0)),
    Cover.BUILT: ((-2.0, -9.0), (0.0, 0.0)),
}


def true_sigma0(plan: S1Plan, polarisation: str) -> np.ndarray:
    """The ground's sigma0 (linear) at every pixel of the product, float32 (lines, samples)."""
    lines = np.arange(plan.lines, dtype=np.float64)[:, None] + 0.5
    samples = np.arange(plan.samples, dtype=np.float64)[None, :] + 0.5
    lon, lat = plan.lonlat(lines, samples)
    g = ground(np.asarray(lon), np.asarray(lat))
    v = vigour(g.cover, g.parcel, plan.datetime.timetuple().tm_yday)
    k = POLARISATIONS.index(polarisation)
    base = np.zeros(len(Cover) + 1, dtype=np.float32)
    gain = np.zeros(len(Cover) + 1, dtype=np.float32)
    for cover, (b, s) in _SIGMA_DB.items():
        base[cover], gain[cover] = b[k], s[k]
    db = base[g.cover] + gain[g.cover] * v
    return (np.float32(10.0) ** (db / np.float32(10.0)) * g.brightness).astype(np.float32)


def model_noise(plan: S1Plan) -> np.ndarray:
    """Thermal noise (DN²) at every pixel: range LUT model x azimuth block model."""
    lines = np.arange(plan.lines, dtype=np.float64)[:, None]
    samples = np.arange(plan.samples, dtype=np.float64)[None, :]
    noise = ann.noise_range(plan, lines, samples)
    scale = np.empty((plan.lines, plan.samples))
    for index, (_, first, last) in enumerate(ann.azimuth_blocks(plan)):
        scale[:, first : last + 1] = ann.noise_azimuth(index, lines)
    return noise * scale


def simulate_dn(plan: S1Plan, polarisation: str) -> np.ndarray:
    """The measurement's uint16 DNs (0 in the near-range border)."""
    lines = np.arange(plan.lines, dtype=np.float64)[:, None]
    samples = np.arange(plan.samples, dtype=np.float64)[None, :]
    lut = ann.sigma_lut(plan, lines, samples)
    rng = np.random.default_rng(plan.acquisition.seed * 10 + POLARISATIONS.index(polarisation))
    speckle = rng.gamma(LOOKS, 1.0 / LOOKS, size=(plan.lines, plan.samples))
    power = true_sigma0(plan, polarisation) * lut**2 * speckle + model_noise(plan)
    dn = np.clip(np.rint(np.sqrt(power)), 1, 65535).astype(np.uint16)
    dn[:, :BORDER_SAMPLES] = 0
    return dn


def _gcps(plan: S1Plan) -> list[GroundControlPoint]:
    return [
        GroundControlPoint(row=line, col=sample, x=lon, y=lat, z=0.0, id=str(i + 1))
        for i, (line, sample, lon, lat) in enumerate(ann.geolocation_points(plan))
    ]


def _write_cog(path: Path, scratch: Path, dn: np.ndarray, gcps: list[GroundControlPoint]) -> None:
    tmp = scratch / (path.name + ".tmp.tif")
    profile = {
        "driver": "GTiff",
        "width": dn.shape[1],
        "height": dn.shape[0],
        "count": 1,
        "dtype": "uint16",
        "nodata": 0,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.Env(**_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(dn, 1)
            dst.gcps = (gcps, CRS.from_epsg(4326))
        gdal_copy(
            tmp,
            path,
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="2",
            BLOCKSIZE="512",
            OVERVIEW_RESAMPLING="RMS",
        )
    tmp.unlink()


def _write_thumbnail(path: Path, dn: np.ndarray) -> tuple[int, int]:
    """A grey PNG quicklook of the VV DNs in dB (not georeferenced), THUMBNAIL px high."""
    step = max(1, dn.shape[0] // THUMBNAIL)
    small = dn[::step, ::step].astype(np.float32)
    db = 20 * np.log10(np.maximum(small, 1))
    grey = np.clip((db - 20) / 30 * 255, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_picture(path, grey[None], "PNG")
    return (int(grey.shape[0]), int(grey.shape[1]))


def footprint(plan: S1Plan) -> dict:
    """The lon/lat footprint of the product's valid samples, counter-clockwise."""
    corners = [
        (0.0, float(BORDER_SAMPLES)),
        (0.0, float(plan.samples)),
        (float(plan.lines), float(plan.samples)),
        (float(plan.lines), float(BORDER_SAMPLES)),
    ]
    ring = [tuple(float(v) for v in plan.lonlat(line, sample)) for line, sample in corners]
    return rounded(mapping(orient(Polygon(ring), sign=1.0)), 6)


def write_s1_product(plan: S1Plan, eodata: Path, scratch: Path) -> ItemResult:
    """Write every file of one GRD product under ``eodata``; the facts its item needs."""
    scratch.mkdir(parents=True, exist_ok=True)
    gcps = _gcps(plan)
    files = {}
    shapes: dict[str, tuple[int, int]] = {}
    for pol in POLARISATIONS:
        key = pol.lower()
        dn = simulate_dn(plan, pol)
        _write_cog(eodata / plan.measurement(pol), scratch, dn, gcps)
        if pol == "VV":
            thumb = f"{plan.directory}/preview/thumbnail.png"
            shapes["thumbnail"] = _write_thumbnail(eodata / thumb, dn)
            files["thumbnail"] = file_facts(eodata, thumb)
        del dn
        for kind, writer in (
            ("product", ann.product_xml),
            ("calibration", ann.calibration_xml),
            ("noise", ann.noise_xml),
        ):
            rel = plan.annotation(pol, kind)
            (eodata / rel).parent.mkdir(parents=True, exist_ok=True)
            (eodata / rel).write_text(writer(plan, pol), encoding="utf-8")
            files[f"schema-{kind}-{key}"] = file_facts(eodata, rel)
        files[key] = file_facts(eodata, plan.measurement(pol))
    inside = [f.path[len(plan.directory) + 1 :] for f in files.values()]
    manifest = f"{plan.directory}/manifest.safe"
    (eodata / manifest).write_text(ann.manifest_xml(plan, inside), encoding="utf-8")
    files["safe_manifest"] = file_facts(eodata, manifest)
    return ItemResult(item_id=plan.item_id, files=files, geometry=footprint(plan), shapes=shapes)
