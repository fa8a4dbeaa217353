"""``Access``: the ASGI middleware (inside the HTTP edge) that authenticates each request and
checks its door, collections, layers and process runs against the caller's grant.

Refusals are the edge's (``Rejections``): each door's exception dialect, 401 with
``WWW-Authenticate`` or 403. Answers to credentials are ``Cache-Control: private``. A
``key`` query parameter is removed from the query before the door sees it, so it reaches no
link, cache key or framework log. The caller goes on as
``scope["gateway.caller"]`` (the rate limits count by its id), as the current caller
(``callers.current_caller``) and as the request context's caller id (None: anonymous).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access.authenticate import Authenticator
from gateway.access.callers import ANONYMOUS, NOBODY, Caller, calling
from gateway.access.names import app_path, door_of, is_open
from gateway.access.visible import refusal
from gateway.config import GatewayConfig
from gateway.context import calling_as
from gateway.edge.rejections import Rejections
from gateway.errors import Forbidden, GatewayError, Unauthorized

SCOPE_KEY = "gateway.caller"
KEY_PARAMETER = b"key"
REALM = 'realm="cdse-gateway"'


def _name(part: bytes) -> bytes:
    """A query parameter's name as the KVP reader reads it (decoded, stripped, lower case)."""
    return unquote_to_bytes(part.partition(b"=")[0].replace(b"+", b" ")).strip().lower()


def without_key(query: bytes) -> bytes:
    """The query string without its ``key`` parameters (the others byte for byte)."""
    return b"&".join(part for part in query.split(b"&") if _name(part) != KEY_PARAMETER)


def _private(send: Send) -> Send:
    """``send`` with ``Cache-Control: public`` (tiles) made ``private``: what credentials
    opened must not be kept by a shared cache for everyone."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (name, value.replace(b"public", b"private") if name == b"cache-control" else value)
                for name, value in message.get("headers", ())
            ]
            message = {**message, "headers": headers}
        await send(message)

    return sending


class Access:
    """``authenticator`` None: access control off (everyone is ``ANONYMOUS``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator | None,
        config: GatewayConfig,
        rejections: Rejections,
        service_of: Callable[[Scope], str],
        params_of: Callable[[Scope], Mapping[str, str]],
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.config = config
        self.rejections = rejections
        self.service_of = service_of
        self.params_of = params_of
        challenges = [f"Bearer {REALM}"]
        if authenticator is not None and authenticator.policy.users:
            challenges.append(f'Basic {REALM}, charset="UTF-8"')
        self.challenges = [(b"www-authenticate", c.encode()) for c in challenges]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.authenticator is None:
            if scope["type"] == "http":
                scope[SCOPE_KEY] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        params = self.params_of(scope)
        path = app_path(scope)
        door = None if is_open(path) else door_of(path, scope, self.service_of)
        if "KEY" in params:
            scope["query_string"] = without_key(scope.get("query_string", b""))
        try:
            caller = await self._caller(scope, params, door)
            if door:
                self.check(caller, door, path, scope["method"], params)
        except Forbidden as refused:
            error: GatewayError = refused
            if caller.kind == "anonymous":  # credentials may allow it: ask for them
                message = f"{refused.message}: send credentials"
                error = Unauthorized(message, locator=refused.locator)
            await self._refuse(error, scope, receive, send)
            return
        except GatewayError as error:
            await self._refuse(error, scope, receive, send)
            return
        scope[SCOPE_KEY] = caller
        if caller.kind != "anonymous":
            send = _private(send)
        with calling_as(caller.owner), calling(caller):
            await self.app(scope, receive, send)

    async def _caller(self, scope: Scope, params: Mapping[str, str], door: str | None) -> Caller:
        assert self.authenticator is not None
        authorization = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
        if api_key is None:
            api_key = params.get("KEY")
        try:
            if authorization is None and api_key is None:
                return self.authenticator.anonymous()
            known = self.authenticator.quick(authorization, api_key)
            if known is not None:
                return known
            # a password's scrypt, a signature, a Redis lookup or a JWKS fetch: in a thread
            return await asyncio.to_thread(self.authenticator.caller, authorization, api_key)
        except Unauthorized:
            if door is None:  # the viewer, probes, metrics: open to all
                return NOBODY
            raise

    def check(
        self, caller: Caller, door: str, path: str, method: str, params: Mapping[str, str]
    ) -> None:
        """Forbidden unless the caller's grant allows the door, every collection and layer the
        URL names, and running a process when the request runs one."""
        refused = refusal(caller.grant, self.config, door, path, method, params)
        if refused is not None:
            raise refused

    async def _refuse(
        self, error: GatewayError, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = self.rejections.response(error, scope)
        if error.status == 401:
            response.raw_headers.extend(self.challenges)
        await response(scope, receive, send)
