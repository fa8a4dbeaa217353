"""Where exports are written: a local folder (served at ``/ogcapi/outputs/<name>``) or S3.

``GATEWAY_OUTPUT_S3_URL`` (``s3://bucket/prefix``) selects S3, with the ``GATEWAY_OUTPUT_S3_*``
endpoint and keys (each falling back to the eodata S3 setting); otherwise exports go to
``GATEWAY_OUTPUT_DIR`` (default ``<data dir>/outputs``). Keys are never logged. Job results
too large for the job store go to the same storage, under ``results/`` (not served).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import UpstreamError
from gateway.forwarded import configured_root
from gateway.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no leading or trailing slash)."""

    bucket: str
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def href(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"


def s3_location(url: str) -> S3Location:
    """``s3://bucket/prefix`` -> S3Location; ValueError when it is not such a URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("the output S3 URL must look like s3://bucket/prefix")
    return S3Location(parts.netloc, parts.path.strip("/"))


def output_folder(settings: Settings) -> Path:
    return Path(settings.output_dir) if settings.output_dir else settings.data_dir / "outputs"


def public_href(settings: Settings, name: str) -> str:
    """The output's URL as OGC API answers carry it (``links``: without a public URL, each
    answer shows it at the address of its own request)."""
    return f"{configured_root(settings)}/ogcapi/outputs/{name}"


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the output storage (path-style on a custom endpoint)."""
    import boto3
    from botocore.config import Config

    endpoint = settings.output_s3_endpoint or settings.s3_endpoint
    https = settings.s3_https if settings.output_s3_https is None else settings.output_s3_https
    if endpoint and "://" not in endpoint:
        endpoint = f"{'https' if https else 'http'}://{endpoint}"
    secret = settings.output_s3_secret_access_key or settings.s3_secret_access_key
    region = settings.output_s3_region or settings.s3_region
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.output_s3_access_key_id or settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        region_name=None if region == "default" else region,
        config=Config(
            s3={"addressing_style": "path" if endpoint else "auto"},
            # S3-compatible stores (Ceph, MinIO) may not take the newer default checksums.
            request_checksum_calculation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def store_output(settings: Settings, name: str, content: bytes, media_type: str) -> str:
    """Write ``content`` as ``name`` into the output storage; returns its href."""
    if settings.output_s3_url:
        return _put_s3(settings, s3_location(settings.output_s3_url), name, content, media_type)
    path = output_folder(settings) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(content)
    partial.replace(path)
    return public_href(settings, name)


def read_output(settings: Settings, name: str) -> bytes | None:
    """The content of ``name`` in the output storage, or None when it is not there."""
    if settings.output_s3_url:
        location = s3_location(settings.output_s3_url)
        client = s3_client(settings)
        try:
            found = client.get_object(Bucket=location.bucket, Key=location.key(name))
        except client.exceptions.NoSuchKey:
            return None
        return found["Body"].read()
    path = output_folder(settings) / name
    return path.read_bytes() if path.is_file() else None


def delete_output(settings: Settings, name: str) -> None:
    """Remove ``name`` from the output storage (nothing happens when it is not there)."""
    if settings.output_s3_url:
        location = s3_location(settings.output_s3_url)
        s3_client(settings).delete_object(Bucket=location.bucket, Key=location.key(name))
    else:
        (output_folder(settings) / name).unlink(missing_ok=True)


def remove_older_than(settings: Settings, prefix: str, max_age_s: float) -> int:
    """Remove the outputs whose name starts with ``prefix`` (``export-``, ``results/``) and
    that were written more than ``max_age_s`` ago; returns how many were removed."""
    cutoff = time.time() - max_age_s
    if settings.output_s3_url:
        return _remove_s3_older_than(settings, s3_location(settings.output_s3_url), prefix, cutoff)
    removed = 0
    for path in _local_outputs(output_folder(settings), prefix):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process removed it first
            pass
    return removed


def _local_outputs(folder: Path, prefix: str) -> Iterator[Path]:
    """Files of ``folder`` named ``prefix...`` (a ``/`` in it names a subfolder), with their
    partial writes (``.name.part``)."""
    sub, _, stem = prefix.rpartition("/")
    parent = folder / sub
    if parent.is_dir():
        for path in parent.iterdir():
            if path.is_file() and path.name.startswith((stem, f".{stem}")):
                yield path


def _remove_s3_older_than(
    settings: Settings, location: S3Location, prefix: str, cutoff: float
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(settings)
    removed = 0
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.key(prefix)
    )
    try:
        for page in pages:
            old = [
                {"Key": item["Key"]}
                for item in page.get("Contents", [])
                if item["LastModified"].timestamp() < cutoff
            ]
            if old:  # a listing page holds at most 1000 keys, as many as one delete takes
                client.delete_objects(
                    Bucket=location.bucket, Delete={"Objects": old, "Quiet": True}
                )
                removed += len(old)
    except (BotoCoreError, ClientError) as error:  # the class and the bucket only: no keys
        log.warning(
            "removing old outputs from bucket %s failed: %s", location.bucket, type(error).__name__
        )
    return removed


def _put_s3(
    settings: Settings, location: S3Location, name: str, content: bytes, media_type: str
) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3_client(settings).put_object(
            Bucket=location.bucket, Key=location.key(name), Body=content, ContentType=media_type
        )
    except (BotoCoreError, ClientError) as error:
        # The error's class and the bucket only: never the endpoint's keys.
        log.error("writing %s to bucket %s failed: %s", name, location.bucket, type(error).__name__)
        raise UpstreamError("the output storage could not be written") from None
    return location.href(name)
