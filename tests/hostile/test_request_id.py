"""Hostile ``X-Request-ID`` values: never echoed, never in a log line, never a 5xx.

A client's request id is kept only when it is a short token of safe characters; anything else
(markup, a path, a URL, NaN, huge, control characters, non-ASCII) is replaced by a new id.
"""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest

from gateway.app import create_app

HOSTILE = [
    b"<script>alert(1)</script>",
    b"../../../../etc/passwd",
    b"file:///etc/passwd",
    b"http://127.0.0.1:1/x",
    b"NaN",  # a safe token: kept as it is (only an id)
    b"x" * 129,
    b"x" * 20_000,
    b"a\x00b",
    b"a\tb",
    b"id\xc3\xa9",
    b"1e308",
    b"",
    b"%0d%0aSet-Cookie:%20a=b",
]
NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("sent", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_request_id_is_replaced_and_never_logged(sample_settings, caplog, sent):
    settings = sample_settings.model_copy(update={"slow_request_s": 1e-9})  # logs every request
    app = create_app(settings, doors=("gateway.ows.wcs.door:build_door",))

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get(
                "/wcs", params={"SERVICE": "WCS", "REQUEST": "Nonsense"},
                headers=[(b"X-Request-ID", sent)],
            )  # fmt: skip

    with caplog.at_level(logging.INFO):
        answer = asyncio.run(fetch())
    assert 400 <= answer.status_code < 500
    got = answer.headers["x-request-id"]
    if sent in (b"NaN", b"1e308"):
        assert got == sent.decode()  # safe tokens, nothing more
    else:
        assert NEW_ID.fullmatch(got)
        if not sent:
            return  # an empty value: nothing to look for
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert sent.decode("latin-1") not in logged and sent.decode("latin-1") not in answer.text
