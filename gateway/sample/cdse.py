"""Constants of the CDSE STAC catalogue that sample items copy: schemes, extensions, URLs."""

from __future__ import annotations

from gateway.core.catalog.models import STAC_VERSION

__all__ = ["STAC_VERSION"]
SOFTWARE = {"cdse-gateway-sample": "1"}
EXPIRES = "9999-01-01T00:00:00.000000Z"
ZIPPER = "https://zipper.dataspace.copernicus.eu/odata/v1"
DOWNLOAD = "https://download.dataspace.copernicus.eu/odata/v1"
QUICKLOOK = "https://datahub.creodias.eu/odata/v1"
TRACE = "https://trace.dataspace.copernicus.eu/api/v1/traces/name"
STORAGE_REFS = ["cdse-s3", "creodias-s3"]

AUTH_SCHEMES = {
    "s3": {"type": "s3"},
    "oidc": {
        "type": "openIdConnect",
        "openIdConnectUrl": "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/.well-known/openid-configuration",
    },
}
STORAGE_SCHEMES = {
    "cdse-s3": {
        "title": "Copernicus Data Space Ecosystem S3",
        "description": (
            "This endpoint provides access to EO data which is stored on the object storage of "
            "both CloudFerro Cloud and OpenTelekom Cloud (OTC). See the [documentation]"
            "(https://documentation.dataspace.copernicus.eu/APIs/S3.html) for more information, "
            "including how to get credentials."
        ),
        "platform": "https://eodata.dataspace.copernicus.eu",
        "requester_pays": False,
        "type": "custom-s3",
    },
    "creodias-s3": {
        "title": "CREODIAS S3",
        "description": (
            "Comprehensive Earth Observation Data (EODATA) archive offered by CREODIAS as a "
            "commercial part of CDSE, designed to provide users with access to a vast repository "
            "of satellite data without predefined quota limits."
        ),
        "platform": "https://eodata.cloudferro.com",
        "requester_pays": True,
        "type": "custom-s3",
    },
}

_EXT = "https://stac-extensions.github.io"
L2A_EXTENSIONS = [
    "https://cs-si.github.io/eopf-stac-extension/v1.2.0/schema.json",
    f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    f"{_EXT}/authentication/v1.1.0/schema.json",
    f"{_EXT}/classification/v2.0.0/schema.json",
    f"{_EXT}/eo/v2.0.0/schema.json",
    f"{_EXT}/file/v2.1.0/schema.json",
    f"{_EXT}/grid/v1.1.0/schema.json",
    f"{_EXT}/processing/v1.2.0/schema.json",
    f"{_EXT}/product/v1.0.0/schema.json",
    f"{_EXT}/projection/v2.0.0/schema.json",
    f"{_EXT}/raster/v2.0.0/schema.json",
    f"{_EXT}/sat/v1.1.0/schema.json",
    f"{_EXT}/storage/v2.0.0/schema.json",
    f"{_EXT}/timestamps/v1.1.0/schema.json",
    f"{_EXT}/view/v1.1.0/schema.json",
]
# CDSE's L1C items: the L2A's but classification (L1C lists no SCL).
L1C_EXTENSIONS = [ext for ext in L2A_EXTENSIONS if "/classification/" not in ext]
MOSAIC_EXTENSIONS = [
    "https://cs-si.github.io/eopf-stac-extension/v1.2.0/schema.json",
    f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    f"{_EXT}/authentication/v1.1.0/schema.json",
    f"{_EXT}/eo/v2.0.0/schema.json",
    f"{_EXT}/file/v2.1.0/schema.json",
    f"{_EXT}/processing/v1.2.0/schema.json",
    f"{_EXT}/product/v1.0.0/schema.json",
    f"{_EXT}/storage/v2.0.0/schema.json",
    f"{_EXT}/timestamps/v1.1.0/schema.json",
]

INTERNATIONAL_DESIGNATORS = {"S2A": "2015-028A", "S2B": "2017-013A", "S2C": "2024-157A"}
# Mean viewing geometry per tile (the sample tiles lie east of the ground track) ...
VIEW = {"31UFU": (287.4, 7.2), "32ULD": (288.3, 10.1)}
# ... and the per-band departures from it, as in CDSE items.
VIEW_BAND = {
    "B01": (-1.26, 0.24), "B02": (3.11, -0.29), "B03": (1.32, -0.21), "B04": (0.29, -0.11),
    "B05": (-0.24, -0.04), "B06": (-0.59, 0.02), "B07": (-0.86, 0.09), "B08": (2.10, -0.25),
    "B8A": (-1.05, 0.16), "B09": (-1.39, 0.31), "B10": (-1.31, 0.27), "B11": (-0.60, 0.02),
    "B12": (-1.16, 0.19),
}  # fmt: skip
S1_EXTENSIONS = [
    "https://cs-si.github.io/eopf-stac-extension/v1.2.0/schema.json",
    f"{_EXT}/alternate-assets/v1.2.0/schema.json",
    f"{_EXT}/authentication/v1.1.0/schema.json",
    f"{_EXT}/file/v2.1.0/schema.json",
    f"{_EXT}/processing/v1.2.0/schema.json",
    f"{_EXT}/product/v1.0.0/schema.json",
    f"{_EXT}/projection/v2.0.0/schema.json",
    f"{_EXT}/sar/v1.3.0/schema.json",
    f"{_EXT}/sat/v1.1.0/schema.json",
    f"{_EXT}/storage/v2.0.0/schema.json",
    f"{_EXT}/timestamps/v1.1.0/schema.json",
    f"{_EXT}/view/v1.1.0/schema.json",
]
