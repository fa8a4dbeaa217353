"""Hostile options of ``cdse-gateway ingest``: each is refused with a message naming the
option, no traceback, and the catalog and data folder stay as they were; a STAC API that
fails (errors, garbage, silence) is reported by status and path, never its credentials."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gateway.byod.collections import own_collection_documents, with_own_collections
from gateway.byod.ingest import IngestOptions, ingest
from gateway.byod.stac_api import StacApiWriter
from gateway.cli import app
from gateway.config import default_config_file, load_config
from gateway.settings import Settings
from tests.support.ports import free_port
from tests.test_byod import PLOTS_NAME, cli_env, data_dir_beside, tree, write_plots
from tests.test_byod_zarr import ORIGIN, RES, write_store, zarray, zgroup

HOSTILE = {
    "traversal": (["--collection", "../../etc"], "a letter, then"),
    "slash": (["--collection", "a/b"], "a letter, then"),
    "copernicus": (["--collection", "sentinel-2-l2a"], "not one of your own"),
    "band math": (["--bands", "B04-B08"], "a letter, then"),
    "band twice": (["--bands", "x,x"], "names a band twice"),
    "band count": (["--bands", "a,b,c"], "the file has 1"),
    "bad regex": (["--datetime-from-name", "(["], "not a regular expression"),
    "regex misses": (["--datetime-from-name", r"(\d{14})"], "finds no date"),
    "not a date": (["--datetime", "yesterday"], "not an ISO 8601 date"),
    "month 13": (["--datetime", "2025-13-01"], "not an ISO 8601 date"),
    "both dates": (["--datetime", "2025-01-01", "--datetime-from-name", "x"], "not both"),
    "units": (["--units", "nounit"], "band=unit"),
    "units band": (["--units", "a b=m"], "a letter, then"),
    "huge name": (["--collection", "c" * 5000], "a letter, then"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_option_is_refused_and_changes_nothing(case, sample_archive: Path, tmp_path):
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_plots(inputs / PLOTS_NAME)
    args, words = HOSTILE[case]
    if "--collection" not in args:
        args = [*args, "--collection", "mine"]
    before = tree(data)
    result = CliRunner().invoke(
        app, ["ingest", str(inputs / PLOTS_NAME), *args],
        env=cli_env(data, inputs),
    )  # fmt: skip
    assert result.exit_code in (1, 2), result.output
    assert words in result.output, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert tree(data) == before


# --- Zarr stores ------------------------------------------------------------------------------


def _small(folder: Path, attrs: dict, dims: list[str] | None = None, name: str = "v") -> Path:
    """A 64 x 64 store (``dims``: a leading dimension of 2) with these group attributes."""
    zgroup(folder, attrs)
    shape = (2, 64, 64) if dims else (64, 64)
    zarray(folder / name, np.ones(shape, "uint8"), [*(dims or []), "y", "x"], {})
    return folder


GEO = {"proj:code": "EPSG:3035", "spatial:transform": [RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1]]}


def _not_zarr(inputs: Path) -> Path:
    (inputs / "notes.zarr").mkdir()
    (inputs / "notes.zarr" / "readme.txt").write_text("not a store\n")
    return inputs / "notes.zarr"


def _bad_json(inputs: Path) -> Path:
    store = _small(inputs / "json.zarr", GEO)
    (store / ".zattrs").write_text("{")
    return store


def _no_crs(inputs: Path) -> Path:
    store = _small(inputs / "nocrs.zarr", {})
    zarray(store / "x", ORIGIN[0] + RES * (np.arange(64) + 0.5), ["x"], {})
    zarray(store / "y", ORIGIN[1] - RES * (np.arange(64) + 0.5), ["y"], {})
    return store


def _band_dimension(inputs: Path) -> Path:
    store = _small(inputs / "bands.zarr", GEO, ["band"])
    zarray(store / "band", np.array([1, 2]), ["band"], {"units": "1"})
    return store


def _quoted(inputs: Path) -> Path:
    return _small(inputs / 'a"b.zarr', GEO)


STORES = {
    "not zarr": (_not_zarr, [], "not a Zarr store"),
    "empty folder": (lambda i: (i / "empty.zarr").mkdir() or i / "empty.zarr", [], "no zarr.json"),
    "bad json": (_bad_json, [], "unreadable Zarr metadata"),
    "no crs": (_no_crs, [], "no CRS"),
    "no grid": (lambda i: _small(i / "nogrid.zarr", {"proj:code": "EPSG:3035"}), [], "no grid"),
    "bad proj": (lambda i: _small(i / "p.zarr", {**GEO, "proj:code": "EPSG:0"}), [], "not a CRS"),
    "not a time": (_band_dimension, [], "dimension band is not a time"),
    "no coordinates": (lambda i: _small(i / "t.zarr", GEO, ["band"]), [], "is not a time"),
    "missing variable": (write_store, ["--bands", "b04,nosuch"], "no variable nosuch in the store"),
    "variable name": (lambda i: _small(i / "n.zarr", GEO, name="b-4"), [], "a letter, then"),
    "level outside": (
        lambda i: _small(i / "l.zarr", {**GEO, "multiscales": {"layout": [{"asset": "../.."}]}}),
        [],
        "is not a group of the store",
    ),
    "double quote": (_quoted, [], "double quote"),
    "s3": (write_store, ["--s3"], "--s3 does not apply"),
}


@pytest.mark.parametrize("case", list(STORES), ids=list(STORES))
def test_hostile_zarr_store_is_refused_and_changes_nothing(case, sample_archive: Path, tmp_path):
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    make, args, words = STORES[case]
    store = make(inputs)
    before = tree(data)
    env = {**cli_env(data, inputs), "GATEWAY_OUTPUT_S3_URL": "s3://bucket/out"}
    result = CliRunner().invoke(app, ["ingest", str(store), *args, "--collection", "mine"], env=env)
    assert result.exit_code == 1, result.output
    assert words in result.output, result.output
    assert "0 ingested, 1 refused" in result.output
    assert "Traceback" not in result.output
    assert tree(data) == before


S3_STORES = {
    "endpoint refuses": ("s3://own/stores/field.zarr", "not a Zarr store it can read"),
    "no bucket": ("s3://", "outside the allowed folders"),
}


@pytest.mark.parametrize("case", list(S3_STORES), ids=list(S3_STORES))
def test_hostile_s3_store_is_refused_and_changes_nothing(case, sample_archive: Path, tmp_path):
    """An ``s3://`` store that cannot be read (missing, not Zarr: tests/test_byod_zarr.py
    against moto) is refused with a message, the catalog unchanged."""
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    url, words = S3_STORES[case]
    before = tree(data)
    env = {
        **cli_env(data, inputs), "AWS_S3_ENDPOINT": f"127.0.0.1:{free_port()}",
        "AWS_HTTPS": "NO", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
    }  # fmt: skip
    result = CliRunner().invoke(app, ["ingest", url, "--collection", "mine"], env=env)
    assert result.exit_code == 1, result.output
    assert words in result.output, result.output
    assert "Traceback" not in result.output
    assert tree(data) == before


# --- a STAC API that fails (GATEWAY_STAC_URL) ------------------------------------------------

Answer = tuple[int, str, bytes]  # status, content type, body
NOT_THERE: Answer = (404, "application/json", b'{"code": "NotFoundError"}')
API_FAILURES: dict[str, tuple[Answer | None, str]] = {
    "500": ((500, "application/json", b'{"description": "database is down"}'), "answered 500"),
    "502 html": ((502, "text/html", b"<html><h1>Bad Gateway</h1></html>"), "answered 502"),
    "garbage": ((200, "application/json", b"\x00\xffnot json{"), "without JSON"),
    "a list": ((200, "application/json", b"[1, 2]"), "without JSON"),
    "hangs": (None, "ReadTimeout"),
}


class FailingApi:
    """An HTTP server on 127.0.0.1 answering each method as told (None: never answers in
    time); it keeps the Authorization headers it got."""

    def __init__(self, answers: dict[str, Answer | None]) -> None:
        self.authorizations: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def answer(self) -> None:
                api.authorizations.append(self.headers.get("Authorization", ""))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                given = answers.get(self.command, NOT_THERE)
                if given is None:
                    time.sleep(2)
                    return
                status, kind, body = given
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://someone:{SECRET}@127.0.0.1:{self.port}/stac"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SECRET = "hunter2-secret"


@pytest.mark.parametrize("case", list(API_FAILURES), ids=list(API_FAILURES))
def test_a_stac_api_failing_is_reported_without_credentials(case, tmp_path: Path):
    """Every read of the API failing (here the first: is the collection one of ours?) stops
    the command with the API's status and the path, never the URL's password."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_plots(inputs / PLOTS_NAME)
    answer, words = API_FAILURES[case]
    api = FailingApi({"GET": answer})
    try:
        env = {
            **cli_env(tmp_path / "data", inputs), "GATEWAY_STAC_URL": api.url(),
            "GATEWAY_STAC_TIMEOUT_S": "0.5", "GATEWAY_OUTPUT_S3_URL": "s3://bucket/prefix",
        }  # fmt: skip
        args = ["ingest", str(inputs / PLOTS_NAME), "--collection", "mine", "--s3"]
        result = CliRunner().invoke(app, args, env=env)
    finally:
        api.close()
    assert result.exit_code == 2, result.output
    assert words in result.output and "GET /stac/collections/mine" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output
    assert api.authorizations and api.authorizations[0].startswith("Basic ")
    assert not (tmp_path / "data" / "stac").exists()


def test_an_unreachable_stac_api_is_reported(tmp_path: Path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_plots(inputs / PLOTS_NAME)
    env = {
        **cli_env(tmp_path / "data", inputs), "GATEWAY_OUTPUT_S3_URL": "s3://bucket/prefix",
        "GATEWAY_STAC_URL": f"http://someone:{SECRET}@127.0.0.1:{free_port()}",
    }  # fmt: skip
    args = ["ingest", str(inputs / PLOTS_NAME), "--collection", "mine", "--s3"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert "did not answer GET /collections/mine: ConnectError" in result.output
    assert SECRET not in result.output


def test_a_post_the_api_refuses_is_reported_per_file_and_the_rest_goes_on(tmp_path: Path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_plots(inputs / "one.tif")
    write_plots(inputs / "two.tif", seed=2)
    stored: dict[str, bytes] = {}

    def put(name: str, content: bytes) -> str:
        stored[name] = content
        return f"s3://bucket/{name}"

    api = FailingApi({"POST": (500, "application/json", b'{"detail": "no space left"}')})
    try:
        options = IngestOptions(
            collection="mine", data_dir=tmp_path / "data", allowed=(inputs,),
            put=put, delete=stored.pop, catalog=StacApiWriter(api.url(), timeout_s=2),
        )  # fmt: skip
        report = ingest([inputs / "one.tif", inputs / "two.tif"], options)
    finally:
        api.close()
    assert report.done == []
    assert [path.name for path, _ in report.failed] == ["one.tif", "two.tif"]
    for _, reason in report.failed:
        assert reason == "the STAC API answered 500 to POST /stac/collections: no space left"
    assert not (tmp_path / "data" / "stac").exists()


def _collections_answer(documents: list) -> Answer:
    return 200, "application/json", json.dumps({"collections": documents, "links": []}).encode()


OWN = {"id": "mine", "gateway:byod": True, "summaries": {"bands": [{"name": "b1"}]}}
LISTINGS: dict[str, tuple[Answer, list[str]]] = {
    "500": ((500, "text/plain", b"down"), []),
    "garbage": ((200, "application/json", b"\x00garbage"), []),
    "no list": ((200, "application/json", b'{"collections": 3}'), []),
    "mixed": (
        _collections_answer(
            [
                OWN,
                {"id": "sentinel-2-l2a", "summaries": {"bands": [{"name": "B04"}]}},
                {"id": "emptied", "gateway:byod": True, "summaries": {}},
                {"id": "odd", "gateway:byod": True, "summaries": "bands"},
                {"id": 7, "gateway:byod": True, "summaries": {"bands": [{"name": "b1"}]}},
                "not a document",
            ]
        ),
        ["mine"],
    ),
}


@pytest.mark.parametrize("case", list(LISTINGS), ids=list(LISTINGS))
def test_the_gateway_takes_only_ingested_collections_from_the_stac_api(case, tmp_path: Path):
    """What a STAC API lists: only the ingest's collections with bands become layers; an
    API failing at start leaves none (the gateway starts)."""
    answer, expected = LISTINGS[case]
    api = FailingApi({"GET": answer})
    try:
        settings = Settings(data_dir=tmp_path, stac_url=api.url(), stac_timeout_s=2)
        found = own_collection_documents(settings)
    finally:
        api.close()
    assert [d["id"] for d in found] == expected


# Collection documents edited by hand (static catalog or STAC API): the band lists no layer
# comes from.
UNDERIVABLE: dict[str, object] = {
    "no maximum": [{"name": "b1", "statistics": {"minimum": 0}}],
    "text statistics": [{"name": "b1", "statistics": {"minimum": "low", "maximum": "high"}}],
    "statistics a string": [{"name": "b1", "statistics": "wide"}],
    "statistics null": [{"name": "b1", "statistics": None}],
    "boolean maximum": [{"name": "b1", "statistics": {"minimum": 0, "maximum": True}}],
    "no name": [{"statistics": {"minimum": 0, "maximum": 1}}],
    "name a number": [{"name": 7}],
    "name band math": [{"name": "b1-b2"}],
    "band a string": ["b1"],
    "bands an object": {"name": "b1"},
    "unit a list": [{"name": "b1", "unit": ["m"]}],
}


@pytest.mark.parametrize("case", list(UNDERIVABLE), ids=list(UNDERIVABLE))
def test_a_collection_no_layer_comes_from_is_passed_over(case, caplog):
    """The others are served; the one passed over is named in one warning."""
    hostile = {"id": "edited", "gateway:byod": True, "summaries": {"bands": UNDERIVABLE[case]}}
    given = load_config(default_config_file())
    with caplog.at_level(logging.WARNING, logger="gateway.byod.collections"):
        config = with_own_collections(given, [hostile, OWN])
    assert config.layer("MINE") is not None and config.layer("EDITED") is None
    assert "edited" not in {c.id for c in config.collections}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "collection edited " in warned[0]
