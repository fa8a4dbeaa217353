"""ASGI pieces of doors that change a request or an answer on its way: a ``send`` that
rewrites a successful response's body (capabilities whose URLs or layers a door changes after
the framework that wrote them), and the ``receive`` of a POST whose body was read."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Send


class Rewriting:
    """An ASGI ``send`` that buffers a response and passes its body through ``rewrite``."""

    def __init__(
        self,
        send: Send,
        rewrite: Callable[[bytes], bytes],
        retype: tuple[bytes, bytes] | None = None,
    ) -> None:
        """``retype``: (a content type, another): only answers of the first are rewritten,
        and then have the second."""
        self._send, self._rewrite, self._retype = send, rewrite, retype
        self._start: Message | None = None
        self._body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        self._body += message.get("body", b"")
        if message.get("more_body"):
            return
        assert self._start is not None
        body = bytes(self._body)
        headers = [(k, v) for k, v in self._start["headers"] if k.lower() != b"content-length"]
        if self._start["status"] == 200 and self._retyped(headers):
            body = await run_in_threadpool(self._rewrite, body)  # not in the event loop
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})

    def _retyped(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether the answer is rewritten (its content type changed in ``headers``)."""
        if self._retype is None:
            return True
        was, becomes = self._retype
        for index, (name, value) in enumerate(headers):
            if name.lower() == b"content-type" and value.split(b";")[0].strip() == was:
                headers[index] = (name, becomes)
                return True
        return False


async def no_body() -> Message:
    """The ``receive`` of a POST whose body was read: nothing more."""
    return {"type": "http.request", "body": b"", "more_body": False}
