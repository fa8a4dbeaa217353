"""Sentinel-2 MSI band table and the L2A asset list per resolution, as CDSE publishes them."""

from __future__ import annotations

from dataclasses import dataclass

RESOLUTIONS: tuple[int, ...] = (10, 20, 60)


@dataclass(frozen=True)
class Band:
    """One MSI band as described in CDSE STAC items (values copied from the live catalogue)."""

    name: str
    description: str
    center_wavelength: float
    full_width_half_max: float
    common_name: str
    native_gsd: int

    def stac(self) -> dict[str, object]:
        """The band object of a STAC 1.1 asset's ``bands`` list."""
        return {
            "name": self.name,
            "description": self.description,
            "eo:center_wavelength": self.center_wavelength,
            "eo:full_width_half_max": self.full_width_half_max,
            "eo:common_name": self.common_name,
        }


BANDS: dict[str, Band] = {
    b.name: b
    for b in (
        Band("B01", "Coastal aerosol (band 1)", 0.443, 0.228, "coastal", 60),
        Band("B02", "Blue (band 2)", 0.493, 0.267, "blue", 10),
        Band("B03", "Green (band 3)", 0.56, 0.291, "green", 10),
        Band("B04", "Red (band 4)", 0.665, 0.342, "red", 10),
        Band("B05", "Red edge 1 (band 5)", 0.704, 0.357, "rededge071", 20),
        Band("B06", "Red edge 2 (band 6)", 0.741, 0.374, "rededge075", 20),
        Band("B07", "Red edge 3 (band 7)", 0.783, 0.399, "rededge078", 20),
        Band("B08", "NIR 1 (band 8)", 0.833, 0.454, "nir", 10),
        Band("B8A", "NIR 2 (band 8A)", 0.865, 0.441, "nir08", 20),
        Band("B09", "NIR 3 (band 9)", 0.945, 0.479, "nir09", 60),
        Band("B11", "SWIR 1 (band 11)", 1.614, 0.841, "swir16", 20),
        Band("B12", "SWIR 2 (band 12)", 2.202, 1.16, "swir22", 20),
    )
}

#: Order of the reflectance cube the synthetic world produces (axis 0).
MODEL_BANDS: tuple[str, ...] = tuple(BANDS)

#: Spectral bands delivered per resolution in an L2A product (baseline 04.00+).
SPECTRAL_ASSETS: dict[int, tuple[str, ...]] = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"),
    60: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"),
}

#: Non-spectral layers per resolution (SCL has no 10 m version).
AUX_ASSETS: dict[int, tuple[str, ...]] = {
    10: ("TCI", "AOT", "WVP"),
    20: ("TCI", "AOT", "WVP", "SCL"),
    60: ("TCI", "AOT", "WVP", "SCL"),
}

#: Bands of the quarterly mosaic product.
MOSAIC_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08")

#: TCI colour order.
TCI_BANDS: tuple[str, ...] = ("B04", "B03", "B02")

#: Processing baseline 04.00+ radiometry: reflectance = DN * SCALE + OFFSET.
DN_SCALE = 0.0001
DN_OFFSET = -0.1


def layers(resolution: int) -> tuple[str, ...]:
    """Every layer (band or auxiliary) written at one resolution."""
    return SPECTRAL_ASSETS[resolution] + AUX_ASSETS[resolution]


def sampling(layer: str, resolution: int) -> str | None:
    """The ``sampling:*`` role of one asset: original, downsampled or upsampled."""
    if layer in ("AOT", "WVP"):
        return None
    if layer == "TCI":
        native = 10
    elif layer == "SCL":
        native = 20
    else:
        native = BANDS[layer].native_gsd
    if resolution == native:
        return "original"
    return "downsampled" if resolution > native else "upsampled"


#: The cirrus band, only in L1C products (L2A drops it).
CIRRUS = Band("B10", "Cirrus (band 10)", 1.375, 0.076, "cirrus", 60)

#: Spectral bands of an L1C product, each in one file at its native resolution.
L1C_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip


def band_info(name: str) -> Band:
    """The MSI band ``name`` (B01..B12, B8A, and L1C's B10)."""
    return CIRRUS if name == CIRRUS.name else BANDS[name]
