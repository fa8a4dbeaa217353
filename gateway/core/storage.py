"""Where pixels live: asset href -> path GDAL opens, and the GDAL options to open it with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway.errors import InvalidParameterValue

EODATA_PREFIX = "s3://eodata/"

# Tuned for remote reads (see DESIGN.md "Known traps"): no directory listing per open,
# merged range requests, a block cache shared by the process.
_REMOTE_OPTIONS: dict[str, str | bool | int] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".jp2,.tif,.tiff,.TIF,.xml,.json",
    "CPL_VSIL_CURL_CACHE_SIZE": 200 * 2**20,
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": 50 * 2**20,
    "GDAL_HTTP_MAX_RETRY": 3,
    "GDAL_HTTP_RETRY_DELAY": 0.5,
    # JP2 read with several threads re-fetches byte ranges (GDAL#8041).
    "GDAL_NUM_THREADS": 1,
}

_LOCAL_OPTIONS: dict[str, str | bool | int] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_NUM_THREADS": 1,
}


@dataclass(frozen=True)
class Storage:
    """Maps ``s3://eodata/...`` to a local folder or to ``/vsis3/eodata/...`` on an endpoint."""

    mode: Literal["local", "s3"]
    eodata_dir: Path | None = None
    s3_endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    https: bool = True
    virtual_hosting: bool = False
    region: str = "default"

    def gdal_path(self, href: str) -> str:
        """The path GDAL opens for an asset href."""
        if href.startswith(EODATA_PREFIX):
            key = href[len(EODATA_PREFIX) :]
            if ".." in key.split("/"):
                raise InvalidParameterValue("asset href is not a valid eodata key", locator="href")
            if self.mode == "local":
                if self.eodata_dir is None:
                    raise InvalidParameterValue("local storage has no eodata folder")
                return str(self.eodata_dir / key)
            return f"/vsis3/eodata/{key}"
        if href.startswith("s3://"):
            return "/vsis3/" + href[len("s3://") :]
        if href.startswith(("https://", "http://")):
            return "/vsicurl/" + href
        if href.startswith("file://"):
            return href[len("file://") :]
        raise InvalidParameterValue("unsupported asset href scheme", locator="href")

    def gdal_options(self) -> dict[str, str | bool | int]:
        """Options for a per-request ``rasterio.Env`` (never set globally)."""
        if self.mode == "local":
            return dict(_LOCAL_OPTIONS)
        options = dict(_REMOTE_OPTIONS)
        options.update(
            {
                "AWS_S3_ENDPOINT": self.s3_endpoint or "",
                "AWS_HTTPS": "YES" if self.https else "NO",
                "AWS_VIRTUAL_HOSTING": "TRUE" if self.virtual_hosting else "FALSE",
                "AWS_REGION": self.region,
            }
        )
        if self.access_key_id and self.secret_access_key:
            options["AWS_ACCESS_KEY_ID"] = self.access_key_id
            options["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        else:
            options["AWS_NO_SIGN_REQUEST"] = "YES"
        return options

    def __repr__(self) -> str:  # keys never reach logs
        return f"Storage(mode={self.mode!r}, endpoint={self.s3_endpoint!r})"
