"""Top-of-atmosphere reflectance of the synthetic world: what the L1C products hold.

The L2A sample's surface reflectance seen through a simple atmosphere: TOA = path + t x BOA,
with the path reflectance (Rayleigh and aerosol scattering) strongest in the blue and the
transmittance lowest in the water-vapour band B09. The cirrus band B10 sees (almost) only
high cloud: the ground is hidden by the water vapour below it.
"""

from __future__ import annotations

import numpy as np

from gateway.sample import scl
from gateway.sample.bands import MODEL_BANDS

#: Path reflectance and transmittance per band of ``MODEL_BANDS``.
PATH: dict[str, float] = {
    "B01": 0.105, "B02": 0.075, "B03": 0.050, "B04": 0.032, "B05": 0.027, "B06": 0.022,
    "B07": 0.019, "B08": 0.016, "B8A": 0.014, "B09": 0.008, "B11": 0.004, "B12": 0.002,
}  # fmt: skip
TRANSMITTANCE: dict[str, float] = {
    "B01": 0.80, "B02": 0.84, "B03": 0.88, "B04": 0.91, "B05": 0.92, "B06": 0.93,
    "B07": 0.94, "B08": 0.94, "B8A": 0.95, "B09": 0.55, "B11": 0.96, "B12": 0.95,
}  # fmt: skip
_PATH = np.array([PATH[b] for b in MODEL_BANDS], dtype=np.float32)[:, None, None]
_TRANSMITTANCE = np.array([TRANSMITTANCE[b] for b in MODEL_BANDS], dtype=np.float32)[:, None, None]

#: B10 reflectance: clear sky, thin cirrus, thick (high) cloud.
CIRRUS_CLEAR, CIRRUS_THIN, CIRRUS_THICK = 0.002, 0.035, 0.09


def toa_reflectance(boa: np.ndarray) -> np.ndarray:
    """TOA reflectance (same shape) of a surface reflectance cube ordered as ``MODEL_BANDS``."""
    return _PATH + _TRANSMITTANCE * boa


def cirrus_band(labels: np.ndarray) -> np.ndarray:
    """B10 reflectance from the scene classification of the same pixels."""
    out = np.full(labels.shape, CIRRUS_CLEAR, dtype=np.float32)
    out[labels == scl.THIN_CIRRUS] = CIRRUS_THIN
    out[np.isin(labels, (scl.CLOUD_MEDIUM, scl.CLOUD_HIGH))] = CIRRUS_THICK
    return out
