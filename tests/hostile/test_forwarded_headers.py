"""Spoofed and malformed proxy headers, and Host headers made to inject into links."""

from __future__ import annotations

import pytest

from tests.support.asgi_calls import answered, seen, start, url

EVERY_HEADER = {
    "Host": "10.0.0.5:8000",
    "Forwarded": "proto=https;host=evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-For": "192.0.2.66",
}


def test_an_untrusted_peer_cannot_choose_the_public_url():
    scope = seen(EVERY_HEADER, trusted="127.0.0.1", client=("203.0.113.9", 5555))
    assert url(scope) == "http://10.0.0.5:8000/ogcapi/collections"
    assert scope["client"] == ("203.0.113.9", 5555) and scope["root_path"] == ""


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Host": 'evil.example"><script>alert(1)</script>'},
        {"X-Forwarded-Host": "evil.example/path"},
        {"X-Forwarded-Host": "user@evil.example"},
        {"Forwarded": 'host="a b"'},
        {"X-Forwarded-Prefix": "//evil.example"},
        {"X-Forwarded-Prefix": "/gw/../admin"},
        {"X-Forwarded-Prefix": '/gw"><script>'},
        {"X-Forwarded-Proto": "javascript"},
        {"Forwarded": "proto=ftp"},
    ],
)
def test_malformed_values_from_a_trusted_proxy_are_ignored(headers):
    scope = seen({"Host": "10.0.0.5:8000", **headers})
    assert url(scope) == "http://10.0.0.5:8000/ogcapi/collections"


@pytest.mark.parametrize("host", ['evil.example"><script>', "a b", "x.example:99999999"])
def test_a_bad_host_header_never_reaches_a_link(host):
    body = b'{"href": "http://127.0.0.1:8000/ogcapi/jobs"}'
    _, sent = answered(
        [start(b"application/json", len(body)), {"type": "http.response.body", "body": body}],
        {"Host": host},
    )
    assert sent == b'{"href": "http://10.0.0.5:8000/ogcapi/jobs"}'  # the server's own address
