"""What every WCS version's documents share: operations, formats, CRSs, service text."""

from __future__ import annotations

from dataclasses import dataclass

VERSIONS = ("2.0.1", "1.1.1", "1.0.0")  # newest first
OPERATIONS = ("GetCapabilities", "DescribeCoverage", "GetCoverage")
TITLE = "CDSE gateway WCS"
ABSTRACT = (
    "Sentinel-2 reflectance bands and spectral indices from the Copernicus Data Space "
    "Ecosystem as float32 coverages (NaN = no data), mosaicked per request."
)
FORMATS = (
    "image/tiff",
    "image/tiff;application=geotiff;profile=cloud-optimized",
    "image/png",
    "application/netcdf",
)
# CRSs advertised (any EPSG CRS is accepted).
CRS_CODES = (4326, 3857, 4258, 3035, *range(32628, 32639), *range(25828, 25839))
INTERPOLATIONS = {
    "nearest": "http://www.opengis.net/def/interpolation/OGC/1/nearest-neighbor",
    "bilinear": "http://www.opengis.net/def/interpolation/OGC/1/linear",
    "cubic": "http://www.opengis.net/def/interpolation/OGC/1/cubic",
    "average": "http://www.opengis.net/def/interpolation/OGC/1/average",
}


@dataclass(frozen=True)
class Endpoint:
    """Where the door answers (used in every DCP link)."""

    url: str  # e.g. http://host/wcs

    @property
    def href(self) -> str:
        return self.url + "?"
