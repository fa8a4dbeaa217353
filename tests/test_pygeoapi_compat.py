"""gateway/ogcapi/_compat.py against the pygeoapi (and pygeofilter) it was written for.

Each test states the upstream behaviour a patch or workaround answers, and fails when pygeoapi
changes it: then the patch can go, or must follow. The tests run pygeoapi bare, on the door's
generated configuration, without the door's patches unless a test applies one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pygeoapi.api import APIRequest
from starlette.requests import Request
from starlette.testclient import TestClient

from gateway import registry, yamlio
from gateway.ogcapi import _compat
from gateway.ogcapi.cql import CONFORMANCE as CQL2_CLASSES
from gateway.ogcapi.door import NOT_IMPLEMENTED, write_files

L2A = "sentinel-2-l2a"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
TRANSACTIONS = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"


@pytest.fixture(scope="module")
def bare(runtime, tmp_path_factory) -> Iterator[ModuleType]:
    """pygeoapi's Starlette module loaded from the door's generated files, unpatched."""
    key = registry.register(runtime)
    config_path, openapi_path = write_files(runtime, tmp_path_factory.mktemp("pygeoapi"), key)
    yield _compat.load_app(config_path, openapi_path)
    registry.unregister(key)


def _api_request(method: str = "GET", query: bytes = b"", body: bytes = b"") -> APIRequest:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "query_string": query,
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return asyncio.run(APIRequest.from_starlette(Request(scope, receive), ["en-US"]))


def test_pygeoapi_reads_its_files_named_by_the_environment_when_imported(bare, runtime):
    """``load_app``: the module's globals come from PYGEOAPI_CONFIG/_OPENAPI, read when the
    module is executed; each door gets its own module, and its app is built in debug mode."""
    assert bare is not sys.modules.get("pygeoapi.starlette_app")
    assert set(bare.CONFIG["resources"]) >= {L2A, "NDVI", "band-math"}
    openapi = json.loads(bare.OPENAPI) if isinstance(bare.OPENAPI, str) else bare.OPENAPI
    assert openapi["info"]["title"] == bare.CONFIG["metadata"]["identification"]["title"]
    assert bare.api_.config is bare.CONFIG
    assert bare.APP.debug is False  # load_app's; pygeoapi's own:
    spec = importlib.util.find_spec("pygeoapi.starlette_app")
    assert spec is not None and spec.origin is not None
    assert "APP = Starlette(debug=True)" in Path(spec.origin).read_text(encoding="utf-8")
    for name in ("APP", "api_", "CONFIG", "collection_items", "_to_response"):
        assert hasattr(bare, name), name


def test_to_response_is_pygeoapis_private_helper(bare):
    response = _compat.to_response(bare, {"Content-Type": "application/json"}, 418, '{"a": 1}')
    assert response.status_code == 418 and response.body == b'{"a": 1}'
    assert response.headers["content-type"] == "application/json"
    html = _compat.to_response(bare, {"Content-Type": "text/html"}, 200, "<p>x</p>")
    assert html.headers["content-type"].startswith("text/html")


def test_conformance_lists_pygeoapis_features_table_as_it_is_when_answering(bare):
    """pygeoapi (fresh, in another process) advertises transactions and CQL2 classes of its
    own; /conformance reads the module-level table at each answer, so the in-place edit of
    ``advertise_features_classes`` shows."""
    fresh = subprocess.run(
        [sys.executable, "-c", "from pygeoapi.api import itemtypes as t; "
         "import json; print(json.dumps(t.CONFORMANCE_CLASSES_FEATURES))"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    upstream = json.loads(fresh.stdout)
    assert TRANSACTIONS in upstream
    assert any("/spec/cql2/" in c for c in upstream)
    assert not set(CQL2_CLASSES) <= set(upstream)

    from pygeoapi.api import conformance

    _compat.advertise_features_classes(CQL2_CLASSES, NOT_IMPLEMENTED)
    _, status, content = conformance(bare.api_, _api_request(query=b"f=json"))
    listed = json.loads(content)["conformsTo"]
    assert status == 200
    assert set(CQL2_CLASSES) <= set(listed) and TRANSACTIONS not in listed


def test_problem_details_keep_the_requested_format_upstream(bare, caplog):
    """pygeoapi types a problem detail as the format asked for (a map's PNG) and logs a client
    error at ERROR; ``fix_error_answers`` types it as JSON and logs one INFO line."""
    api = type(bare.api_)(bare.CONFIG, bare.OPENAPI, {})  # a second API: this test patches it
    caplog.set_level(logging.INFO)
    for name in ("pygeoapi.api", "pygeoapi.l10n"):  # as pygeoapi leaves them (no door built)
        caplog.set_level(logging.NOTSET, logger=name)
    headers, status, _ = api.get_exception(400, {"Content-Type": "image/png"}, "png", "X", "bad")
    assert (status, headers["Content-Type"]) == (400, "image/png")
    assert any(r.levelno == logging.ERROR and r.name.startswith("pygeoapi") for r in caplog.records)

    caplog.clear()
    _compat.fix_error_answers(api)
    headers, status, content = api.get_exception(
        400, {"Content-Type": "image/png"}, "png", "X", "bad"
    )
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert json.loads(content)["description"] == "bad"
    ours = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [(r.name, r.levelno) for r in ours] == [("gateway.ogcapi._compat", logging.INFO)]


def test_query_parameters_live_in_the_private_args():
    request = _api_request(query=b"limit=5&f=json")
    _compat.with_param(request, "offset", "0")
    assert request.params == {"limit": "5", "f": "json", "offset": "0"}
    assert request._args is request.params


def test_a_null_execute_body_fails_inside_pygeoapi(bare):
    """pygeoapi fails on a POSTed ``null`` (JSON, but no object): ``body_problem`` says so."""
    from pygeoapi.api import processes

    try:
        _, status, _ = processes.execute_process(
            bare.api_, _api_request("POST", body=b"null"), "band-math"
        )
    except (AttributeError, TypeError):
        status = 500
    assert status == 500
    assert _compat.body_problem(b"null") == "the request body must be a JSON object"
    assert _compat.body_problem(b"{") == "the request body must be JSON"
    assert _compat.body_problem(b'{"inputs": {}}') is None


def test_listings_read_the_apis_config_and_openapi_and_link_absolutely(bare):
    """``api_view``, ``openapi_document``, ``landing_links``: pygeoapi's handlers list the
    resources of ``api.config`` and answer ``api.openapi`` (the generated file's JSON text, as
    it is; a dict as its JSON); the landing page's JSON links are absolute, below
    ``api.base_url``."""
    from pygeoapi.api import describe_collections, landing_page, openapi_

    api = bare.api_
    assert isinstance(api.openapi, str)
    _, _, text = openapi_(api, _api_request(query=b"f=json"))
    assert text == api.openapi
    document = _compat.openapi_document(api)
    assert "/collections/NDVI/map" in document["paths"]
    small = {**document, "paths": {"/": document["paths"]["/"]}}
    _, _, text = openapi_(_compat.api_view(api, openapi=small), _api_request(query=b"f=json"))
    assert json.loads(text) == small

    resources = {L2A: api.config["resources"][L2A]}
    view = _compat.api_view(api, config={**api.config, "resources": resources})
    _, _, text = describe_collections(view, _api_request(query=b"f=json"))
    assert [c["id"] for c in json.loads(text)["collections"]] == [L2A]
    assert set(api.config["resources"]) > set(resources)  # the shared API unchanged

    _, _, text = landing_page(api, _api_request(query=b"f=json"))
    hrefs = {link["href"] for link in json.loads(text)["links"]}
    assert {f"{api.base_url}/processes", f"{api.base_url}/jobs"} <= hrefs
    kept = _compat.landing_links(api, text, lambda link: "/jobs" not in link["href"])
    assert {link["href"] for link in json.loads(kept)["links"]} == {
        h for h in hrefs if "/jobs" not in h
    }
    _, _, html = landing_page(api, _api_request(query=b"f=html"))
    assert _compat.landing_links(api, html, lambda link: False) == html


def test_pygeofilter_parses_t_intersects_as_t_overlaps():
    from pygeofilter.parsers.cql2_json import parse as parse_json
    from pygeofilter.parsers.cql2_text import parse as parse_text

    text = parse_text("datetime T_INTERSECTS TIMESTAMP('2025-06-01T00:00:00Z')")
    cql2_json = parse_json(
        {"op": "t_intersects", "args": [{"property": "datetime"}, {"timestamp": "2025-06-01Z"}]}
    )
    assert text.op is _compat.T_INTERSECTS and cql2_json.op is _compat.T_INTERSECTS


class Counting:
    """A pygeoapi plugin that counts its constructions."""

    built = 0

    def __init__(self, definition: dict) -> None:
        type(self).built += 1


def test_pygeoapi_builds_a_plugin_on_every_load():
    """Why ``registry.BuiltOnce`` exists: ``load_plugin`` calls the class every time."""
    from pygeoapi.plugin import load_plugin

    definition = {"name": f"{__name__}.Counting", "type": "feature", "data": "x"}
    first, second = load_plugin("provider", definition), load_plugin("provider", definition)
    assert first is not second and Counting.built == 2


def test_pygeoapi_lower_cases_crs_uris():
    """Why ``crs.pygeoapi_crs`` hands pygeoapi CURIEs: it lower-cases the CRS84 URI."""
    from pygeoapi.crs import get_uri

    assert get_uri(CRS84) == CRS84.lower() != CRS84


def test_items_of_a_collection_without_features_and_untyped_posts_upstream(bare):
    """Why ``items.items_endpoint`` answers these itself: pygeoapi gives a 400 "Invalid
    provider type" for the items of a layer (coverage, tiles, map) and a 500 for a POST to
    /items without a Content-Type."""
    with TestClient(bare.APP, raise_server_exceptions=False) as client:
        layer = client.get("/collections/NDVI/items", params={"f": "json"})
        untyped = client.post(f"/collections/{L2A}/items", content=b'{"op": "="}')
    assert layer.status_code == 400 and "Invalid provider type" in layer.text
    assert untyped.status_code == 500


def test_validate_config_accepts_and_refuses_what_pygeoapis_does(bare):
    """``validate_config``: pygeoapi's schema, read once; the door's configuration passes
    both, and a configuration pygeoapi refuses (a required part missing, a resource of an
    unknown type) is refused too."""
    from jsonschema import ValidationError
    from pygeoapi.config import validate_config as pygeoapis

    config = bare.CONFIG
    assert pygeoapis(config)
    _compat.validate_config(config)
    resources = config["resources"]
    unknown_type = {**resources, L2A: {**resources[L2A], "type": "not-a-type"}}
    for broken in (
        {name: part for name, part in config.items() if name != "server"},
        {**config, "resources": unknown_type},
    ):
        with pytest.raises(ValidationError):
            pygeoapis(broken)
        with pytest.raises(ValidationError):
            _compat.validate_config(broken)


def test_the_configuration_file_reads_back_as_pyyamls_own_dump_would(runtime, tmp_path):
    """The door writes pygeoapi's configuration with libyaml's dumper: what pygeoapi reads
    from it is what PyYAML's pure-Python ``safe_dump`` would have given it."""
    import yaml

    from gateway.ogcapi.config import build_config

    config = build_config(
        runtime, base_url="http://x/ogcapi", output_dir=str(tmp_path), runtime_key="k"
    )
    written = yamlio.dump(config, sort_keys=False)
    assert yaml.safe_load(written) == yaml.safe_load(yaml.safe_dump(config, sort_keys=False))
    assert yamlio.DUMPER is yaml.CSafeDumper and yamlio.LOADER is yaml.CSafeLoader


def test_load_app_reads_the_configuration_file_as_written(runtime, tmp_path, monkeypatch):
    """pygeoapi's module takes its configuration from ``get_config`` when executed (the
    door's ``load_app`` reads the file with libyaml instead): a value holding ``${VAR}`` is
    served as written, where pygeoapi's loader puts the environment's value in its place."""
    import yaml
    from pygeoapi.util import yaml_load

    key = registry.register(runtime)
    try:
        config_path, openapi_path = write_files(runtime, tmp_path, key)
        monkeypatch.setenv("GATEWAY_TEST_SECRET", "not-for-titles")
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        config["metadata"]["identification"]["title"] = "Maps ${GATEWAY_TEST_SECRET}"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        module = _compat.load_app(config_path, openapi_path)
    finally:
        registry.unregister(key)
    with config_path.open(encoding="utf-8") as written:
        assert yaml_load(written)["metadata"]["identification"]["title"] == "Maps not-for-titles"
    assert module.CONFIG["metadata"]["identification"]["title"] == "Maps ${GATEWAY_TEST_SECRET}"
    assert module.api_.config is module.CONFIG


def test_the_cql2_parser_is_built_once_then_loaded_from_lark_s_cache(tmp_path):
    """pygeofilter builds its CQL2 text parser with ``Lark.open`` when imported: the first
    process writes lark's cache of its tables, the next loads it, and both parse as a parser
    built without a cache does (each in a fresh process: the parser is built once per
    process)."""
    script = (
        "import sys; from pathlib import Path;"
        " from gateway.ogcapi._compat import import_cql2_parser;"
        " import_cql2_parser(Path(sys.argv[1]) if sys.argv[1] else None);"
        " from pygeofilter.parsers.cql2_text import parse;"
        " print(str(parse(\"cloud <= 20 AND platform IN ('S2A', 'S2B') OR orbit > 3\")))"
    )

    def parsed(cache: str) -> str:
        done = subprocess.run([sys.executable, "-c", script, cache], capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr, done.stderr
        return done.stdout

    uncached = parsed("")
    assert "And(" in uncached and not list(tmp_path.iterdir())
    assert parsed(str(tmp_path)) == uncached
    (written,) = tmp_path.iterdir()
    stamp = written.stat().st_mtime_ns
    assert parsed(str(tmp_path)) == uncached and written.stat().st_mtime_ns == stamp


def test_lark_s_cache_file_is_whole_or_absent_while_it_is_written(tmp_path):
    """lark writes its cache through a file of the process's own, renamed over the cache
    once whole: a process starting beside it never reads half a cache (it read one and
    logged a traceback when lark wrote in place)."""
    from gateway.ogcapi._compat import _replaced_when_written

    cache = tmp_path / "tables.pickle"
    cache.write_bytes(b"old")
    with _replaced_when_written(cache, "wb") as out:
        out.write(b"new, ")
        assert cache.read_bytes() == b"old"  # what a reader meanwhile finds
        out.write(b"whole")
    assert cache.read_bytes() == b"new, whole"
    assert [p.name for p in tmp_path.iterdir()] == ["tables.pickle"]
    with pytest.raises(RuntimeError), _replaced_when_written(cache, "wb") as out:
        out.write(b"half")
        raise RuntimeError("the writer failed")
    assert cache.read_bytes() == b"new, whole"
    assert [p.name for p in tmp_path.iterdir()] == ["tables.pickle"]


def test_processes_starting_together_share_one_cache_without_a_traceback(tmp_path):
    script = (
        "import sys, logging; from pathlib import Path;"
        " logging.basicConfig(level=logging.WARNING);"
        " from gateway.ogcapi._compat import import_cql2_parser;"
        " import_cql2_parser(Path(sys.argv[1]));"
        " from pygeofilter.parsers.cql2_text import parse; print(parse('cloud <= 20'))"
    )
    for _ in range(3):
        for old in tmp_path.iterdir():
            old.unlink()
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(tmp_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for started in starts:
            out, err = started.communicate(timeout=120)
            assert started.returncode == 0 and "Traceback" not in err and not err.strip(), err
            assert "LessEqual" in out
        assert len([p for p in tmp_path.iterdir() if p.suffix == ".pickle"]) == 1
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
