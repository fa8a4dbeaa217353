"""Where pixels live: asset href -> path GDAL opens, and the GDAL options to open it with."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import rasterio
from rasterio.session import Session

from gateway.errors import InvalidParameterValue

EODATA_PREFIX = "s3://eodata/"
# Not a registered media type: GDAL's XML virtual format, the assets of ingested Zarr stores
# (read in ``Storage.zarr_env``).
VRT_TYPE = "application/xml; profile=gdal-vrt"

GdalOptions = dict[str, str | bool | int | float]

# Tuned for remote reads (see DESIGN.md "Known traps"): no directory listing per open,
# merged range requests, a block cache shared by the process.
_REMOTE_OPTIONS: GdalOptions = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "GDAL_INGESTED_BYTES_AT_OPEN": 32768,
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".jp2,.tif,.tiff,.TIF,.xml,.json",
    "CPL_VSIL_CURL_CACHE_SIZE": 200 * 2**20,
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": 50 * 2**20,
    "GDAL_HTTP_RETRY_DELAY": 0.5,  # doubles on each retry
    # JP2 read with several threads re-fetches byte ranges (GDAL#8041).
    "GDAL_NUM_THREADS": 1,
}

_LOCAL_OPTIONS: GdalOptions = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # A window of a local JPEG 2000 file decodes the code-stream tiles it touches side by side:
    # the first tile of a z12 true-colour view 1.6 -> 0.8 s on 2 cores, the same CPU and pixels.
    "GDAL_NUM_THREADS": "ALL_CPUS",
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
    # One GDAL open may try a file twice, each with retries (5xx, 429, time-outs), then list
    # its "folder": these bound how long a dead or hanging endpoint can hold a request.
    http_timeout_s: float = 10.0
    http_retries: int = 3
    # Under a connection quota: GDAL fetches the ranges of one read one after another (by
    # default it opens a connection per range at once: measured 3 for a COG column read).
    serial_ranges: bool = False

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

    def gdal_options(self) -> GdalOptions:
        """Options for a per-request ``rasterio.Env`` (never set globally); no keys in here."""
        if self.mode == "local":
            return dict(_LOCAL_OPTIONS)
        options = dict(_REMOTE_OPTIONS)
        options.update(
            {
                "GDAL_HTTP_TIMEOUT": max(1, round(self.http_timeout_s)),
                "GDAL_HTTP_CONNECTTIMEOUT": max(1, round(min(5.0, self.http_timeout_s))),
                "GDAL_HTTP_MAX_RETRY": self.http_retries,
                "AWS_S3_ENDPOINT": self.s3_endpoint or "",
                "AWS_HTTPS": "YES" if self.https else "NO",
                "AWS_VIRTUAL_HOSTING": "TRUE" if self.virtual_hosting else "FALSE",
                "AWS_REGION": self.region,
            }
        )
        if self.serial_ranges:
            options["GDAL_HTTP_MULTIRANGE"] = "SERIAL"
        if not self.has_keys:
            options["AWS_NO_SIGN_REQUEST"] = "YES"
        return options

    def zarr_env(self) -> rasterio.Env:
        """GDAL's environment for ingested Zarr stores (their VRTs, the ingest): the S3
        settings (whatever the mode) without the key filter, whose extensions (``.jp2``...)
        are not a store's (``.zarray``, ``zarr.json``, chunk keys such as ``0.1.2``)."""
        remote = replace(self, mode="s3")
        options = remote.gdal_options()
        del options["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"]
        return rasterio.Env(session=remote.gdal_session(), **options)

    def read_bytes(self, href: str, limit: int = 16 * 2**20) -> bytes:
        """The whole of a small file (metadata: annotation XMLs) at an asset href, at most
        ``limit`` bytes: from the eodata folder, the S3 endpoint (boto3, path-style) or HTTP.
        Raises OSError when it cannot be read."""
        path = self.gdal_path(href)
        if not path.startswith("/vsi"):
            with open(path, "rb") as fh:
                return fh.read(limit)
        if path.startswith("/vsis3/"):
            return self.range_reader(path)(0, limit)[0]
        import urllib.request

        with urllib.request.urlopen(path[len("/vsicurl/") :], timeout=self.http_timeout_s) as r:
            return r.read(limit)

    def range_reader(self, path: str) -> Callable[[int, int], tuple[bytes, int]]:
        """A reader of byte ranges of the ``/vsis3/`` file ``path`` (boto3, one client per
        storage and process): ``read(offset, length)`` is those bytes and the file's size.
        Raises OSError when they cannot be read."""
        bucket, _, key = path[len("/vsis3/") :].partition("/")
        client = _shared_client(self)

        def read(offset: int, length: int) -> tuple[bytes, int]:
            from botocore.exceptions import BotoCoreError, ClientError

            span = f"bytes={offset}-{offset + length - 1}"
            try:
                answer = client.get_object(Bucket=bucket, Key=key, Range=span)
                data = bytes(answer["Body"].read())
            except (BotoCoreError, ClientError) as exc:
                raise OSError(self.redact(str(exc))) from exc
            total = str(answer.get("ContentRange", "")).rpartition("/")[2]
            return data, int(total) if total.isdigit() else offset + len(data)

        return read

    def s3_list(self, bucket: str, prefix: str) -> tuple[list[str], list[str]]:
        """The "folders" and the keys directly under ``prefix`` (ending in ``/``), as names.
        Raises OSError when it cannot be listed."""
        from botocore.exceptions import BotoCoreError, ClientError

        folders: list[str] = []
        files: list[str] = []
        pages = self.s3_client().get_paginator("list_objects_v2")
        try:
            for page in pages.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                common = page.get("CommonPrefixes", [])
                folders += [p["Prefix"][len(prefix) :].rstrip("/") for p in common]
                files += [o["Key"][len(prefix) :] for o in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise OSError(self.redact(str(exc))) from exc
        return folders, files

    def s3_client(self):  # type: ignore[no-untyped-def]
        """A boto3 client for the endpoint (path-style unless virtual hosting)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        scheme = "https" if self.https else "http"
        return boto3.client(
            "s3",
            endpoint_url=f"{scheme}://{self.s3_endpoint}" if self.s3_endpoint else None,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "virtual" if self.virtual_hosting else "path"},
                connect_timeout=self.http_timeout_s,
                read_timeout=self.http_timeout_s,
                retries={"max_attempts": self.http_retries},
                signature_version=None if self.has_keys else UNSIGNED,
            ),
        )

    @property
    def has_keys(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key)

    def gdal_session(self) -> Session | None:
        """The keys as a rasterio session (``rasterio.Env`` refuses them as plain options)."""
        if self.mode == "local" or not self.has_keys:
            return None
        return KeySession(self.access_key_id or "", self.secret_access_key or "")

    def redact(self, text: str) -> str:
        """``text`` with the keys replaced, for log lines built from upstream messages."""
        for secret in (self.secret_access_key, self.access_key_id):
            if secret:
                text = text.replace(secret, "***")
        return text

    def protect_logs(self) -> None:
        """Redact the keys from rasterio's log records (GDAL error texts quote servers)."""
        if self.mode == "local" or not self.has_keys:
            return
        names = {"rasterio", *_RASTERIO_LOGGERS}
        names.update(n for n in logging.root.manager.loggerDict if n.startswith("rasterio."))
        for name in names:
            target = logging.getLogger(name)
            found = [f for f in target.filters if isinstance(f, _RedactKeys)]
            redactor = found[0] if found else _RedactKeys()
            redactor.storages.add(self)
            if not found:
                target.addFilter(redactor)

    def __repr__(self) -> str:  # keys never reach logs
        return f"Storage(mode={self.mode!r}, endpoint={self.s3_endpoint!r})"


# Loggers rasterio reports GDAL errors through (present whether imported yet or not).
_RASTERIO_LOGGERS = ("rasterio._env", "rasterio._err", "rasterio._io", "rasterio._base")


class _RedactKeys(logging.Filter):
    """Replaces the keys of every registered storage in a record's final message."""

    def __init__(self) -> None:
        super().__init__()
        self.storages: set[Storage] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for storage in list(self.storages):
            redacted = storage.redact(redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class KeySession(Session):
    """S3 keys handed to GDAL through ``rasterio.Env(session=...)``, without boto3."""

    def __init__(self, access_key_id: str, secret_access_key: str) -> None:
        self._keys = {
            "AWS_ACCESS_KEY_ID": access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key,
        }

    @classmethod
    def hascreds(cls, config: dict) -> bool:
        return "AWS_ACCESS_KEY_ID" in config and "AWS_SECRET_ACCESS_KEY" in config

    @property
    def credentials(self) -> dict[str, str]:
        return dict(self._keys)

    def get_credential_options(self) -> dict[str, str]:
        return dict(self._keys)

    def __repr__(self) -> str:  # keys never reach logs
        return "KeySession(***)"


@functools.lru_cache(maxsize=4)
def _shared_client(storage: Storage):  # type: ignore[no-untyped-def]
    """One boto3 client per storage (thread-safe; making one takes tens of ms)."""
    return storage.s3_client()
