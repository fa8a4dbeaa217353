"""The calibration and thermal noise look-up tables of a Sentinel-1 GRD product, read from its
annotation XMLs (ESA's product specification, IPF 2.9 and later for the noise), evaluated at
any lines and samples of the image.

Every table is evaluated the way ESA describes: linear along the samples of each vector, then
linear between the vectors' lines (bilinear over lines and samples); the azimuth noise is
linear along the lines of its block and applies to the samples of that block only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lxml import etree

CALIBRATION_KINDS = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}


class AnnotationError(ValueError):
    """An annotation file that does not hold the tables the specification describes."""


def _numbers(node: etree._Element | None, what: str) -> np.ndarray:
    if node is None or not (node.text or "").strip():
        raise AnnotationError(f"missing {what}")
    try:
        return np.array(node.text.split(), dtype=np.float64)  # type: ignore[union-attr]
    except ValueError as exc:
        raise AnnotationError(f"{what} holds a value that is not a number") from exc


def _parse(content: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise AnnotationError("not an XML document") from exc


@dataclass(frozen=True)
class VectorTable:
    """Vectors of values at sample lists, one vector per line (lines ascending)."""

    lines: np.ndarray  # (n,)
    samples: tuple[np.ndarray, ...]  # n sample lists
    values: tuple[np.ndarray, ...]  # n value lists

    def at(self, lines: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Values on the grid of ``lines`` (rows) x ``samples`` (columns), float64."""
        across = np.stack(
            [np.interp(samples, s, v) for s, v in zip(self.samples, self.values, strict=True)]
        )
        if len(self.lines) == 1:
            return np.repeat(across, len(lines), axis=0)
        position = np.interp(lines, self.lines, np.arange(len(self.lines), dtype=np.float64))
        low = np.minimum(np.floor(position).astype(int), len(self.lines) - 2)
        weight = (position - low)[:, None]
        return across[low] * (1 - weight) + across[low + 1] * weight


def _table(vectors: list[etree._Element], sample_tag: str, value_tag: str) -> VectorTable:
    if not vectors:
        raise AnnotationError(f"no vectors of {value_tag}")
    lines, samples, values = [], [], []
    for vector in vectors:
        line = _numbers(vector.find("line"), "line")
        pixel = _numbers(vector.find(sample_tag), sample_tag)
        value = _numbers(vector.find(value_tag), value_tag)
        if len(line) != 1 or len(pixel) != len(value) or len(pixel) < 1:
            raise AnnotationError(f"a {value_tag} vector does not match its samples")
        if np.any(np.diff(pixel) <= 0):
            raise AnnotationError(f"the samples of a {value_tag} vector are not ascending")
        lines.append(line[0])
        samples.append(pixel)
        values.append(value)
    order = np.argsort(lines, kind="stable")
    line_array = np.asarray(lines)[order]
    if np.any(np.diff(line_array) <= 0):
        raise AnnotationError(f"the lines of the {value_tag} vectors repeat")
    return VectorTable(
        line_array, tuple(samples[i] for i in order), tuple(values[i] for i in order)
    )


def calibration_table(content: bytes, kind: str) -> VectorTable:
    """The ``sigma0``, ``beta0`` or ``gamma0`` table of a calibration-*.xml."""
    root = _parse(content)
    tag = CALIBRATION_KINDS[kind]
    return _table(root.findall("calibrationVectorList/calibrationVector"), "pixel", tag)


@dataclass(frozen=True)
class AzimuthBlock:
    """One noiseAzimuthVector: a block of lines and samples and its LUT along the lines."""

    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class NoiseTables:
    """The thermal noise of one polarisation: range vectors x azimuth blocks (in DN²)."""

    range: VectorTable
    azimuth: tuple[AzimuthBlock, ...]

    def at(self, lines: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Noise power on the grid of ``lines`` x ``samples`` (1 where no block says)."""
        noise = self.range.at(lines, samples)
        if not self.azimuth:
            return noise
        scale = np.ones_like(noise)
        for block in self.azimuth:
            rows = (lines >= block.first_line) & (lines < block.last_line + 1)
            cols = (samples >= block.first_sample) & (samples < block.last_sample + 1)
            if rows.any() and cols.any():
                along = np.interp(lines[rows], block.lines, block.values)
                scale[np.ix_(rows, cols)] = along[:, None]
        return noise * scale


def noise_tables(content: bytes) -> NoiseTables:
    """The tables of a noise-*.xml (IPF 2.9 and later: range and azimuth vectors; older files'
    ``noiseVector`` with ``noiseLut`` are read as range vectors with no azimuth part)."""
    root = _parse(content)
    ranges = root.findall("noiseRangeVectorList/noiseRangeVector")
    if ranges:
        table = _table(ranges, "pixel", "noiseRangeLut")
    else:
        table = _table(root.findall("noiseVectorList/noiseVector"), "pixel", "noiseLut")
    blocks = []
    for node in root.findall("noiseAzimuthVectorList/noiseAzimuthVector"):
        bounds = [
            _numbers(node.find(tag), tag)
            for tag in (
                "firstAzimuthLine",
                "lastAzimuthLine",
                "firstRangeSample",
                "lastRangeSample",
            )
        ]
        lines = _numbers(node.find("line"), "line")
        values = _numbers(node.find("noiseAzimuthLut"), "noiseAzimuthLut")
        if len(lines) != len(values) or any(len(b) != 1 for b in bounds):
            raise AnnotationError("a noiseAzimuthVector does not match its lines")
        first_line, last_line, first_sample, last_sample = (int(b[0]) for b in bounds)
        blocks.append(AzimuthBlock(first_line, last_line, first_sample, last_sample, lines, values))
    return NoiseTables(table, tuple(blocks))
