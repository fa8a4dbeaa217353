"""Sen2Cor scene classification (SCL) classes and the percentages CDSE items report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NODATA = 0
CLOUD_SHADOW = 3
VEGETATION = 4
NOT_VEGETATED = 5
WATER = 6
CLOUD_MEDIUM = 8
CLOUD_HIGH = 9
THIN_CIRRUS = 10
SNOW = 11
CLOUDY = (CLOUD_MEDIUM, CLOUD_HIGH, THIN_CIRRUS)
CLEAR = (VEGETATION, NOT_VEGETATED, WATER)

#: (value, classification:classes name, key in the item's ``statistics``), as CDSE publishes them.
CLASSES: tuple[tuple[int, str, str | None], ...] = (
    (0, "no_data", "nodata"),
    (1, "saturated_or_defective", "saturated_defective"),
    (2, "dark_area_pixels", "dark_area"),
    (3, "cloud_shadows", "cloud_shadow"),
    (4, "vegetation", "vegetation"),
    (5, "not_vegetated", "not_vegetated"),
    (6, "water", "water"),
    (7, "unclassified", "unclassified"),
    (8, "cloud_medium_probability", "medium_proba_clouds"),
    (9, "cloud_high_probability", "high_proba_clouds"),
    (10, "thin_cirrus", "thin_cirrus"),
    (11, "snow", None),  # reported as eo:snow_cover
)

#: Tie-break order when a coarser SCL pixel takes the most frequent class of its block.
MODE_PRIORITY = (
    CLOUD_HIGH,
    CLOUD_MEDIUM,
    THIN_CIRRUS,
    CLOUD_SHADOW,
    NOT_VEGETATED,
    VEGETATION,
    WATER,
    NODATA,
)


def percentages(counts: Sequence[int] | np.ndarray) -> dict[int, float]:
    """Percentage per class value: no-data of all pixels, every other class of valid pixels."""
    counts = list(counts) + [0] * (len(CLASSES) - len(counts))
    total = sum(counts)
    valid = total - counts[NODATA]
    out = {NODATA: 100.0 * counts[NODATA] / total if total else 0.0}
    for value, _, _ in CLASSES[1:]:
        out[value] = 100.0 * counts[value] / valid if valid else 0.0
    return {k: round(v, 6) for k, v in out.items()}


def cloud_cover(counts: Sequence[int] | np.ndarray) -> float:
    """``eo:cloud_cover``: medium + high probability clouds + thin cirrus, % of valid pixels."""
    pct = percentages(counts)
    return round(sum(pct[c] for c in CLOUDY), 2)
