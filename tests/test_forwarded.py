"""Trusted proxies' headers (``gateway.forwarded``) and OGC API links following the request
(``gateway.ogcapi.links``), at the ASGI level; the live server: tests/test_ogcapi_links.py."""

from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.edge.server import STARTED_AT, process_started_at, started_at
from gateway.forwarded import ForwardedHeaders, forwarded_pairs
from tests.support.asgi_calls import answered, seen, start, url


def test_x_forwarded_headers_of_a_trusted_proxy_make_the_public_url():
    scope = seen({
        "Host": "10.0.0.5:8000", "X-Forwarded-Host": "maps.example.org",
        "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/gateway/",
        "X-Forwarded-For": "198.51.100.4",
    })  # fmt: skip
    assert url(scope) == "https://maps.example.org/gateway/ogcapi/collections"
    assert str(Request(scope).base_url) == "https://maps.example.org/gateway/"
    assert scope["client"][0] == "198.51.100.4"  # uvicorn's part: X-Forwarded-For


def test_rfc7239_forwarded_header():
    scope = seen(
        {"Host": "10.0.0.5", "Forwarded": 'for=198.51.100.4;proto=https;host="a.example:8443"'}
    )
    assert url(scope) == "https://a.example:8443/ogcapi/collections"


def test_the_nearest_proxy_value_counts_and_x_forwarded_wins_over_forwarded():
    scope = seen({
        "Host": "10.0.0.5", "Forwarded": "host=a.example;proto=https, host=b.example",
        "X-Forwarded-Host": "c.example, d.example",
    })  # fmt: skip
    assert url(scope) == "http://d.example/ogcapi/collections"


def test_forwarded_pairs():
    assert forwarded_pairs('for="[2001:db8::17]:4711";Proto=https, for=10.0.0.1;by=x') == [
        {"for": "[2001:db8::17]:4711", "proto": "https"},
        {"for": "10.0.0.1", "by": "x"},
    ]


@pytest.mark.parametrize(
    ("trusted", "client"),
    [("10.0.0.0/8", ("10.1.2.3", 1)), ("*", ("203.0.113.9", 1)), ("127.0.0.1, ::1", ("::1", 1))],
)
def test_trusted_addresses_and_networks(trusted, client):
    scope = seen({"Host": "h", "X-Forwarded-Host": "pub.example"}, trusted, client)
    assert url(scope) == "http://pub.example/ogcapi/collections"


def test_routes_still_match_behind_a_prefix():
    async def where(request: Request) -> JSONResponse:
        return JSONResponse({"url": str(request.url), "base": str(request.base_url)})

    app = Starlette(
        routes=[Route("/ogcapi/collections", where)],
        middleware=[Middleware(ForwardedHeaders, trusted_hosts="testclient")],
    )
    headers = {"X-Forwarded-Prefix": "/gw", "X-Forwarded-Host": "pub.example"}
    answer = TestClient(app).get("/ogcapi/collections", headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {
        "url": "http://pub.example/gw/ogcapi/collections",
        "base": "http://pub.example/gw/",
    }


def test_serve_passes_trusted_proxies_to_the_app(monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from gateway import cli
    from gateway.settings import Settings

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cli, "_prepare_sample_data", lambda settings: None)
    monkeypatch.setenv("GATEWAY_FORWARDED_ALLOW_IPS", "127.0.0.1")  # put back afterwards
    # serve hands its workers its process's start (this one's, long ago): taken away after,
    # or every app this process builds later would find its first listing's budget spent.
    monkeypatch.setenv(STARTED_AT, "")
    options = ["serve", "--port", "8813", "--forwarded-allow-ips", "10.0.0.0/8"]
    done = CliRunner().invoke(cli.app, options)
    assert done.exit_code == 0, done.output
    assert calls[0]["port"] == 8813 and calls[0]["proxy_headers"] is False  # the app reads them
    assert Settings().forwarded_allow_ips == "10.0.0.0/8"
    assert started_at() == pytest.approx(process_started_at(), abs=0.1)
    assert started_at() < time.time() - 1


def test_uvicorn_s_variable_is_read_too(monkeypatch):
    from gateway.settings import Settings

    monkeypatch.delenv("GATEWAY_FORWARDED_ALLOW_IPS", raising=False)
    assert Settings().forwarded_allow_ips == "127.0.0.1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert Settings().forwarded_allow_ips == "*"


# -- links -----------------------------------------------------------------------------------


def test_json_and_location_follow_the_request():
    body = b'{"href": "http://127.0.0.1:8000/ogcapi/jobs/1", "s3": "s3://b/k"}'
    location = (b"location", b"http://127.0.0.1:8000/ogcapi/jobs/1")
    first, second = body[:20], body[20:]  # the body in two parts
    head, sent = answered(
        [
            start(b"application/json", len(body), location),
            {"type": "http.response.body", "body": first, "more_body": True},
            {"type": "http.response.body", "body": second},
        ],
        {"Host": "pub.example:81"},
    )
    assert sent == b'{"href": "http://pub.example:81/ogcapi/jobs/1", "s3": "s3://b/k"}'
    headers = dict(head["headers"])
    assert headers[b"location"] == b"http://pub.example:81/ogcapi/jobs/1"
    assert headers[b"content-length"] == str(len(sent)).encode()


@pytest.mark.parametrize(
    ("content_type", "extra", "method"),
    [
        (b"image/png", (), "GET"),
        (b"application/json", ((b"content-encoding", b"gzip"),), "GET"),
        (b"application/json", (), "HEAD"),
    ],
)
def test_pictures_compressed_and_head_answers_are_left_alone(content_type, extra, method):
    body = b"\x89PNG http://127.0.0.1:8000/ogcapi"
    head, sent = answered(
        [start(content_type, len(body), *extra), {"type": "http.response.body", "body": body}],
        {"Host": "pub.example"},
        method,
    )
    assert sent == body and dict(head["headers"])[b"content-length"] == str(len(body)).encode()


def test_a_server_address_given_as_a_list_is_read_too():
    """Starlette's TestClient gives ``server`` as a list (the ASGI spec: an iterable)."""
    body = b'{"href": "http://127.0.0.1:8000/ogcapi"}'
    _, sent = answered(
        [start(b"application/json", len(body)), {"type": "http.response.body", "body": body}],
        {},
        server=["testserver", 80],
    )
    assert sent == b'{"href": "http://testserver/ogcapi"}'
