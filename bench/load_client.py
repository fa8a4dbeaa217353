"""A lean asyncio HTTP/1.1 client for load generation: one keep-alive connection per client.

httpx.AsyncClient spent 1.5 ms of CPU per request on the 2-core development machine (more than
the gateway spends answering a cached tile), and load generator and servers share its cores.
This client only GETs: it writes the request line and Host, reads the head, then the body by
``Content-Length`` or chunks, and reconnects when the server closed the connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]  # lower-case names
    body: bytes


class Connection:
    """GETs on one keep-alive connection to ``host:port`` (opened when first needed)."""

    def __init__(self, host: str, port: int, timeout: float = 180.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.resent = 0  # GETs sent again on a new connection (the server closed the old one)

    async def get(self, target: str) -> Answer:
        """GET ``target`` (path and query); raises OSError, TimeoutError or
        IncompleteReadError on failure. A kept-alive connection the server closed meanwhile
        (uvicorn closes those idle for 5 s) is opened again and the GET sent again, once, as
        browsers do."""
        reused = self._writer is not None and not self._writer.is_closing()
        if reused and self._reader is not None and self._reader.at_eof():
            await self.close()
            reused = False
        try:
            return await self._get(target)
        except asyncio.IncompleteReadError as error:
            if not reused or error.partial:
                raise
        except (ConnectionResetError, BrokenPipeError):  # closed while our GET was on its way
            if not reused:
                raise
        self.resent += 1
        return await self._get(target)

    async def _get(self, target: str) -> Answer:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=2**20
            )
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(target)
        except BaseException:
            await self.close()
            raise

    async def _exchange(self, target: str) -> Answer:
        assert self._reader is not None and self._writer is not None
        request = f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
        self._writer.write(request.encode("latin-1"))
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            body = await self._reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._chunks()
        elif status in (204, 304):
            body = b""
        else:  # the body ends with the connection
            body = await self._reader.read()
            await self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Answer(status, headers, body)

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await self._reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailer fields
                return b"".join(parts)
            parts.append((await self._reader.readexactly(size + 2))[:-2])

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
