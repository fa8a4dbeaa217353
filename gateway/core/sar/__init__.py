"""Sentinel-1 GRD: annotation tables, radiometric calibration and reading through GCPs."""

from gateway.core.sar.calibration import (
    BACK_COEFFS,
    ORBIT_DIRECTIONS,
    SAR_PARAMETERS,
    SarOptions,
    SarTexts,
    parse_sar_options,
    sar_texts,
)

__all__ = [
    "BACK_COEFFS",
    "ORBIT_DIRECTIONS",
    "SAR_PARAMETERS",
    "SarOptions",
    "SarTexts",
    "parse_sar_options",
    "sar_texts",
]
