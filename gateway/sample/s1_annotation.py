"""The annotation files of a sample GRD product: the calibration LUTs (sigmaNought, betaNought,
gamma, dn vectors per line at lists of samples), the thermal noise LUTs (noiseRangeVector per
line, noiseAzimuthVector per sub-swath block, IPF 2.9 and later) and a short product
annotation with the geolocation grid, in the structure of ESA's Sentinel-1 product
specification. The LUT models are smooth functions of (line, sample) that the writer also uses
to make the DNs.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import numpy as np

from gateway.sample.s1_layout import (
    GCP_LINES,
    GCP_SAMPLES,
    IPF_VERSION,
    LINE_TIME,
    PIXEL_SPACING,
    S1Plan,
)

BETA_NOUGHT = 237.0  # constant over an IW GRD product
CAL_LINE_STEP, CAL_SAMPLE_STEP = 200, 40
NOISE_LINE_STEP, NOISE_SAMPLE_STEP = 150, 40
NOISE_AZIMUTH_STEP = 100


def axis(count: int, step: int) -> np.ndarray:
    """LUT positions along one axis: every ``step``, and the last one always included."""
    points = np.arange(0, count, step)
    return points if points[-1] == count - 1 else np.append(points, count - 1)


def sigma_lut(plan: S1Plan, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """sigmaNought: betaNought / sqrt(sin(incidence)), drifting slightly along the lines."""
    inc = np.radians(plan.incidence(sample))
    return BETA_NOUGHT / np.sqrt(np.sin(inc)) * (1 + 0.004 * line / plan.lines)


def gamma_lut(plan: S1Plan, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """gamma: sigmaNought * sqrt(cos(incidence)) (gamma0 = sigma0 / cos(incidence))."""
    inc = np.radians(plan.incidence(sample))
    return sigma_lut(plan, line, sample) * np.sqrt(np.cos(inc))


def noise_range(plan: S1Plan, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """The range noise (DN²): the antenna pattern's scalloping across the swath."""
    phase = 2 * np.pi * (sample + plan.acquisition.swath_offset) / 1100.0
    return 260.0 + 140.0 * np.cos(phase) ** 2 + 20.0 * line / plan.lines


def azimuth_blocks(plan: S1Plan) -> list[tuple[str, int, int]]:
    """(sub-swath, first sample, last sample) of the noise azimuth blocks the product spans."""
    split = plan.samples // 2
    return [("IW2", 0, split - 1), ("IW3", split, plan.samples - 1)]


def noise_azimuth(block: int, line: np.ndarray) -> np.ndarray:
    """The azimuth noise scaling of one block along the lines."""
    return 1.0 + 0.04 * np.sin(2 * np.pi * line / 700.0 + 1.3 * block)


def _el(parent: ET.Element, tag: str, text: object = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        node.text = str(text)
    return node


def _numbers(values: np.ndarray, integers: bool = False) -> str:
    if integers:
        return " ".join(str(int(v)) for v in values)
    return " ".join(f"{v:.6e}" for v in values)


def _list(parent: ET.Element, tag: str, values: np.ndarray, integers: bool = False) -> None:
    _el(parent, tag, _numbers(values, integers), count=len(values))


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _line_time(plan: S1Plan, line: int) -> str:
    return _time(plan.acquisition.start + timedelta(seconds=LINE_TIME * line))


def _header(root: ET.Element, plan: S1Plan, polarisation: str) -> None:
    acq = plan.acquisition
    head = _el(root, "adsHeader")
    _el(head, "missionId", acq.platform)
    _el(head, "productType", "GRD")
    _el(head, "polarisation", polarisation.upper())
    _el(head, "mode", "IW")
    _el(head, "swath", "IW")
    _el(head, "startTime", _time(acq.start))
    _el(head, "stopTime", _time(plan.stop))
    _el(head, "absoluteOrbitNumber", acq.absolute_orbit)
    _el(head, "missionDataTakeId", acq.datatake)
    _el(head, "imageNumber", "001" if polarisation.upper() == "VV" else "002")


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _vector(
    parent: ET.Element, tag: str, plan: S1Plan, line: int, samples: np.ndarray
) -> ET.Element:
    """A vector of one line: its azimuth time, line and sample list (values to be added)."""
    vector = _el(parent, tag)
    _el(vector, "azimuthTime", _line_time(plan, line))
    _el(vector, "line", line)
    _list(vector, "pixel", samples, integers=True)
    return vector


def calibration_xml(plan: S1Plan, polarisation: str) -> str:
    """calibration-*.xml: one calibrationVector per ``CAL_LINE_STEP`` lines."""
    root = ET.Element("calibration")
    _header(root, plan, polarisation)
    info = _el(root, "calibrationInformation")
    _el(info, "absoluteCalibrationConstant", "1.000000e+00")
    lines = axis(plan.lines, CAL_LINE_STEP)
    samples = axis(plan.samples, CAL_SAMPLE_STEP)
    vectors = _el(root, "calibrationVectorList", count=len(lines))
    for line in lines:
        vector = _vector(vectors, "calibrationVector", plan, int(line), samples)
        row = np.full(samples.shape, float(line))
        _list(vector, "sigmaNought", sigma_lut(plan, row, samples))
        _list(vector, "betaNought", np.full(samples.shape, BETA_NOUGHT))
        _list(vector, "gamma", gamma_lut(plan, row, samples))
        _list(vector, "dn", np.full(samples.shape, BETA_NOUGHT))
    return _document(root)


def noise_xml(plan: S1Plan, polarisation: str) -> str:
    """noise-*.xml: noiseRangeVectorList and noiseAzimuthVectorList (IPF 2.9 and later)."""
    root = ET.Element("noise")
    _header(root, plan, polarisation)
    lines = axis(plan.lines, NOISE_LINE_STEP)
    samples = axis(plan.samples, NOISE_SAMPLE_STEP)
    ranges = _el(root, "noiseRangeVectorList", count=len(lines))
    for line in lines:
        vector = _vector(ranges, "noiseRangeVector", plan, int(line), samples)
        _list(vector, "noiseRangeLut", noise_range(plan, np.full(samples.shape, line), samples))
    blocks = azimuth_blocks(plan)
    azimuths = _el(root, "noiseAzimuthVectorList", count=len(blocks))
    az_lines = axis(plan.lines, NOISE_AZIMUTH_STEP)
    for index, (swath, first, last) in enumerate(blocks):
        vector = _el(azimuths, "noiseAzimuthVector")
        _el(vector, "swath", swath)
        _el(vector, "firstAzimuthLine", 0)
        _el(vector, "firstRangeSample", first)
        _el(vector, "lastAzimuthLine", plan.lines - 1)
        _el(vector, "lastRangeSample", last)
        _list(vector, "line", az_lines, integers=True)
        _list(vector, "noiseAzimuthLut", noise_azimuth(index, az_lines.astype(float)))
    return _document(root)


def geolocation_points(plan: S1Plan) -> list[tuple[int, int, float, float]]:
    """(line, sample, lon, lat) of the geolocation grid (``GCP_LINES`` x ``GCP_SAMPLES``)."""
    points = []
    for line in np.linspace(0, plan.lines, GCP_LINES).round().astype(int):
        for sample in np.linspace(0, plan.samples, GCP_SAMPLES).round().astype(int):
            lon, lat = plan.lonlat(float(line), float(sample))
            points.append((int(line), int(sample), float(lon), float(lat)))
    return points


def product_xml(plan: S1Plan, polarisation: str) -> str:
    """The product annotation, cut down to what readers use: pass, heading, image size and
    spacing, and the geolocation grid (ellipsoid heights 0)."""
    acq = plan.acquisition
    root = ET.Element("product")
    _header(root, plan, polarisation)
    general = _el(root, "generalAnnotation")
    info = _el(general, "productInformation")
    _el(info, "pass", acq.orbit_state.capitalize())
    _el(info, "timelinessCategory", "Fast-24h")
    _el(info, "platformHeading", f"{(acq.heading + 180) % 360 - 180:.6e}")
    _el(info, "projection", "Ground Range")
    _el(info, "radarFrequency", "5.405000454334350e+09")
    image = _el(_el(root, "imageAnnotation"), "imageInformation")
    _el(image, "productFirstLineUtcTime", _time(acq.start))
    _el(image, "productLastLineUtcTime", _time(plan.stop))
    _el(image, "azimuthTimeInterval", f"{LINE_TIME:.15e}")
    _el(image, "rangePixelSpacing", f"{PIXEL_SPACING:.6e}")
    _el(image, "azimuthPixelSpacing", f"{PIXEL_SPACING:.6e}")
    _el(image, "numberOfSamples", plan.samples)
    _el(image, "numberOfLines", plan.lines)
    mid = plan.incidence(plan.samples / 2)
    _el(image, "incidenceAngleMidSwath", f"{mid:.15e}")
    _el(image, "pixelValue", "Detected")
    _el(image, "outputPixels", "16 bit Unsigned Integer")
    _el(_el(root, "processingInformation"), "ipfVersion", IPF_VERSION)
    points = geolocation_points(plan)
    grid = _el(_el(root, "geolocationGrid"), "geolocationGridPointList", count=len(points))
    for line, sample, lon, lat in points:
        point = _el(grid, "geolocationGridPoint")
        _el(point, "azimuthTime", _line_time(plan, line))
        _el(point, "line", line)
        _el(point, "pixel", sample)
        _el(point, "latitude", f"{lat:.15e}")
        _el(point, "longitude", f"{lon:.15e}")
        _el(point, "height", "0.000000000000000e+00")
        _el(point, "incidenceAngle", f"{plan.incidence(sample):.15e}")
    return _document(root)


def manifest_xml(plan: S1Plan, files: list[str]) -> str:
    """manifest.safe, short: platform, orbit and the data objects of the product."""
    acq = plan.acquisition
    version = "esa/safe/sentinel-1.0/sentinel-1/sar/level-1/standard/iwdp"
    root = ET.Element("xfdu:XFDU", {"xmlns:xfdu": "urn:ccsds:schema:xfdu:1", "version": version})
    meta = _el(root, "metadataSection")
    platform = _el(meta, "platform")
    _el(platform, "familyName", "SENTINEL-1")
    _el(platform, "number", acq.platform[-1])
    _el(platform, "instrumentMode", "IW")
    orbit = _el(meta, "orbitReference")
    _el(orbit, "orbitNumber", acq.absolute_orbit, type="start")
    _el(orbit, "relativeOrbitNumber", acq.relative_orbit, type="start")
    _el(orbit, "pass", acq.orbit_state.upper())
    data = _el(root, "dataObjectSection")
    for index, name in enumerate(files):
        obj = _el(data, "dataObject", ID=f"object{index}")
        _el(obj, "fileLocation", locatorType="URL", href=f"./{name}")
    _el(root, "comment", f"heading {math.fmod(acq.heading, 360):.1f}; synthetic sample product")
    return _document(root)
