"""Radiometric calibration of Sentinel-1 GRD digital numbers: Sentinel Hub's ``backCoeff``.

    value = (DN² - noise) / A²

with A the calibration LUT of the chosen coefficient (sigmaNought, betaNought or gamma) and
noise the thermal noise LUTs (when removed), both evaluated at each pixel's line and sample.
Negative powers (noise above the signal) are clamped to 0, as Sentinel Hub does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gateway.core.sar.annotation import NoiseTables, VectorTable
from gateway.errors import InvalidParameterValue

#: Sentinel Hub's ``backCoeff`` names -> the calibration table they use.
BACK_COEFFS = {"SIGMA0_ELLIPSOID": "sigma0", "GAMMA0_ELLIPSOID": "gamma0", "BETA0": "beta0"}
DEFAULT_BACK_COEFF = "SIGMA0_ELLIPSOID"
ORBIT_DIRECTIONS = ("ASCENDING", "DESCENDING")
#: The vendor parameters every door reads, in ``parse_sar_options``'s order.
SAR_PARAMETERS = ("BACKCOEFF", "NOISEREMOVAL", "ORBITDIRECTION")
SarTexts = tuple[str | None, str | None, str | None]


@dataclass(frozen=True)
class SarOptions:
    """How a request wants Sentinel-1 read: the backscatter coefficient, thermal noise
    removal, and the orbit direction of the scenes (None: both)."""

    back_coeff: str = DEFAULT_BACK_COEFF
    noise_removal: bool = True
    orbit_direction: str | None = None

    @property
    def table(self) -> str:
        """The calibration table: ``sigma0``, ``gamma0`` or ``beta0``."""
        return BACK_COEFFS[self.back_coeff]

    def cache_parts(self) -> dict[str, object]:
        return {
            "backcoeff": self.back_coeff,
            "noise": self.noise_removal,
            "orbit": self.orbit_direction,
        }


def _choice(value: str | None, allowed: tuple[str, ...], locator: str) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip().upper()
    if text not in allowed:
        raise InvalidParameterValue(
            f"{locator} must be one of {', '.join(allowed)}", locator=locator
        )
    return text


def sar_texts(value: Callable[[str], str | None]) -> SarTexts:
    """The texts of BACKCOEFF, NOISEREMOVAL and ORBITDIRECTION as a door reads its
    parameters (``value(name)``: None when absent), for ``parse_sar_options(*texts)``."""
    back_coeff, noise, orbit = (value(name) for name in SAR_PARAMETERS)
    return back_coeff, noise, orbit


def parse_sar_options(
    back_coeff: str | None = None,
    noise_removal: str | bool | None = None,
    orbit_direction: str | None = None,
) -> SarOptions:
    """The vendor parameters BACKCOEFF, NOISEREMOVAL (true/false) and ORBITDIRECTION
    (ASCENDING/DESCENDING), validated: InvalidParameterValue names the parameter."""
    coeff = _choice(back_coeff, tuple(BACK_COEFFS), "backcoeff") or DEFAULT_BACK_COEFF
    orbit = _choice(orbit_direction, ORBIT_DIRECTIONS, "orbitdirection")
    if isinstance(noise_removal, bool):
        noise = noise_removal
    else:
        flag = _choice(noise_removal, ("TRUE", "FALSE"), "noiseremoval")
        noise = flag != "FALSE"
    return SarOptions(coeff, noise, orbit)


def calibrate(
    dn: np.ndarray,
    lines: np.ndarray,
    samples: np.ndarray,
    lut: VectorTable,
    noise: NoiseTables | None,
) -> np.ndarray:
    """Calibrated backscatter (linear, float32) of DNs at the image ``lines`` (rows) and
    ``samples`` (columns) they stand for; NaN (no data) where DN is 0 or NaN and where the
    table is not positive (a broken table: no value rather than infinity)."""
    power = dn.astype(np.float64) ** 2
    if noise is not None:
        power = np.maximum(power - noise.at(lines, samples), 0.0)
    gain = lut.at(lines, samples) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        value = power / gain
    value[(dn == 0) | ~(gain > 0)] = np.nan
    return value.astype(np.float32)
