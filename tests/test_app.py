"""The ASGI app and the command line, on the sample archive."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import rasterio
from PIL import Image
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.core import tent
from tests.support.ports import free_port


def test_healthz(sample_settings, runtime):
    with TestClient(create_app(sample_settings, runtime=runtime)) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["catalog"] == "static" and body["storage"] == "local"


def test_the_compiled_warp_kernel_is_loaded_while_the_app_is_built(
    sample_settings, runtime, monkeypatch
):
    """The compiled warp kernel (gateway/core/tent.py) loads in a thread of its own beside the
    doors' building, and the app is returned once it did: neither the first zoomed-out tile
    waits for it (0.3-1 s) nor does the server grow by it (tens of MB) once serving."""
    threads: list[str] = []

    def warm_up() -> None:
        time.sleep(0.5)
        threads.append(threading.current_thread().name)

    monkeypatch.setattr(tent, "warm_up", warm_up)
    app = create_app(sample_settings, runtime=runtime)
    assert threads == ["warm-up-kernel"]
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    assert threads == ["warm-up-kernel"]


def test_nothing_is_read_at_import_only_in_create_app(tmp_path):
    env = {
        **os.environ,
        "GATEWAY_CONFIG_FILE": str(tmp_path / "missing.yaml"),
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
    }
    imports = "import gateway.app, gateway.cli, gateway.runtime"
    done = subprocess.run([sys.executable, "-c", imports], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data").exists()
    creating = subprocess.run(
        [sys.executable, "-c", imports + "; gateway.app.create_app()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert creating.returncode != 0 and "missing.yaml" in creating.stderr


def _cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_SAMPLE_DATA": "false"}
    env.pop("AWS_S3_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_render_png_and_geotiff(sample_archive, tmp_path):
    common = [
        "render", "--collection", "sentinel-2-l2a", "--expression", "(B08-B04)/(B08+B04)",
        "--bbox=700000,5832000,703000,5835000", "--crs", "EPSG:32631", "--size", "150x100",
        "--time", "2025-06-01/2025-06-30", "--maxcc", "30", "--order", "mostRecent",
    ]  # fmt: skip
    png, tif = tmp_path / "out.png", tmp_path / "out.tif"
    result = _cli([*common, "--style", "ndvi", "-o", str(png)], sample_archive)
    assert result.returncode == 0, result.stderr
    picture = Image.open(io.BytesIO(png.read_bytes()))
    assert picture.size == (150, 100)
    result = _cli([*common, "-o", str(tif)], sample_archive)
    assert result.returncode == 0, result.stderr
    with rasterio.open(tif) as src:
        assert src.crs.to_epsg() == 32631 and src.dtypes[0] == "float32"
        assert src.bounds == (700000, 5832000, 703000, 5835000)
        values = src.read(1)
    assert np.nanmax(values) > 0.6 and np.isfinite(values).mean() > 0.95


def test_cli_render_named_layer_and_bad_input(sample_archive, tmp_path):
    out = tmp_path / "tc.jpg"
    result = _cli(
        ["render", "--layer", "TRUE_COLOR", "--bbox=5.95,52.58,6.15,52.64", "--size", "200x100",
         "--time", "2025-06", "-o", str(out)],
        sample_archive,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(out).format == "JPEG"
    bad = _cli(
        ["render", "--collection", "sentinel-2-l2a", "--expression", "__import__('os')",
         "--bbox=5.95,52.58,6.15,52.64", "-o", str(tmp_path / "x.png")],
        sample_archive,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "error:" in bad.stderr and "Traceback" not in bad.stderr


def test_serve_answers_healthz(sample_archive):
    port = free_port()
    env = {**os.environ, "GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_SAMPLE_DATA": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_start_up_on_the_static_catalog_leaves_the_stac_api_writer_unimported(sample_archive):
    """Building the app on the static catalog imports neither the ingest's STAC API writer
    nor httpx, its client (~0.1 s of start-up, more on a loaded machine): only a deployment
    on a STAC API needs them (in a fresh process: this one imported them long ago)."""
    script = (
        "import sys; from gateway.app import create_app; create_app();"
        " print(','.join(m for m in ('httpx', 'gateway.byod.stac_api') if m in sys.modules))"
    )
    env = {**os.environ, "GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_SAMPLE_DATA": "false"}
    env.pop("GATEWAY_STAC_URL", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
