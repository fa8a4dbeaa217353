"""An S3 stand-in for CDSE's ``eodata`` bucket: moto's standalone server plus a counting proxy.

``start_s3(eodata_dir, log_dir)`` starts ``moto_server`` as a subprocess on a free port,
creates the bucket ``eodata``, uploads the sample archive's ``eodata`` tree with boto3 and
puts a ``CountingProxy`` in front of it. The gateway (GDAL's ``/vsis3/``) talks to the proxy,
path-style, so tests can count GETs, byte ranges and bytes per tile. ``limits`` makes the
proxy play CDSE's quota; ``include`` uploads only the keys it accepts (a full-size archive's
few files a benchmark reads).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.counting_proxy import CountingProxy, Limits
from tests.support.ports import free_port

BUCKET = "eodata"
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUEST_LINE = re.compile(r'"(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/[0-9.]+" (\d{3})')


@dataclass
class S3Server:
    """A running moto server holding the ``eodata`` bucket, behind a counting proxy."""

    process: subprocess.Popen
    port: int
    proxy: CountingProxy
    log_path: Path

    @property
    def endpoint(self) -> str:
        """``host:port`` of the proxy: the value of ``AWS_S3_ENDPOINT``."""
        return self.proxy.address

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The variables CDSE documents for GDAL, pointed at this server."""
        return {
            "AWS_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_REGION": REGION,
        }

    def logged_requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request in moto's own log, colours stripped."""
        text = _ANSI.sub("", self.log_path.read_text(errors="replace"))
        return [(m[1], m[2], int(m[3])) for m in _REQUEST_LINE.finditer(text)]

    def stop(self) -> None:
        self.proxy.stop()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if not script.exists():
        raise RuntimeError(
            f"moto_server not found next to {sys.executable}: pip install moto[server]"
        )
    return [str(script), "-H", "127.0.0.1", "-p", str(port)]


def s3_client(url: str):
    """A boto3 S3 client for ``url`` with the stand-in's keys."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            max_pool_connections=16,
        ),
    )


def _wait_until_up(process: subprocess.Popen, url: str, timeout_s: float = 30.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto_server exited during start-up")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("moto_server did not answer in time")


def upload_tree(url: str, eodata_dir: Path, include: Callable[[str], bool] | None = None) -> int:
    """Create bucket ``eodata`` and upload every file under ``eodata_dir`` (whose key
    ``include`` accepts, if given); returns the count."""
    client = s3_client(url)
    client.create_bucket(Bucket=BUCKET)
    files = [p for p in sorted(eodata_dir.rglob("*")) if p.is_file()]
    if include is not None:
        files = [p for p in files if include(p.relative_to(eodata_dir).as_posix())]

    def put(path: Path) -> None:
        key = path.relative_to(eodata_dir).as_posix()
        with path.open("rb") as body:  # streamed: full-size bands are 100 MB and more
            client.upload_fileobj(body, BUCKET, key)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, files))
    return len(files)


def start_s3(
    eodata_dir: Path,
    log_dir: Path,
    *,
    limits: Limits | None = None,
    include: Callable[[str], bool] | None = None,
    ranges_from_files: bool = False,
) -> S3Server:
    """Start moto, load ``eodata_dir`` (the keys ``include`` accepts) into bucket ``eodata``,
    start the counting proxy (enforcing ``limits``, if given; with ``ranges_from_files`` it
    answers byte-range GETs from ``eodata_dir``'s files, as a store whose range reads do not
    grow with the object, where moto copies the whole object for each)."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "moto.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _moto_command(port), stdout=log, stderr=subprocess.STDOUT, env=env
        )
    ranges = (f"/{BUCKET}/", eodata_dir) if ranges_from_files else None
    proxy = CountingProxy(("127.0.0.1", port), limits=limits, ranges_from=ranges)
    server = S3Server(process=process, port=port, proxy=proxy, log_path=log_path)
    try:
        _wait_until_up(process, server.direct_url)
        upload_tree(server.direct_url, eodata_dir, include)
        proxy.start()
    except BaseException:
        server.stop()
        raise
    return server
