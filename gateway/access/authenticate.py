"""Who is calling: the credentials of a request checked into a ``Caller``.

Credentials come in ``Authorization`` (``Bearer <API key or JWT>``, ``Basic``), in
``X-API-Key``, or as the ``key`` query parameter (OGC clients that can only append
parameters). None at all: the anonymous caller, with the policy's ``anonymous`` grant, or 401
when it has none. Wrong credentials are always 401, never anonymous.

A token or password once checked is remembered (by its SHA-256) for ``REMEMBER_S``, a token
no longer than it is valid, so a map's hundred tile requests verify one signature and hash
one password; ``quick`` answers those, and keys of a store that reads no network, without
leaving the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time

from gateway.access.callers import Caller
from gateway.access.keys import KeyStore
from gateway.access.policy import Policy
from gateway.access.secrets import KEY_PREFIX, check_password, key_digest
from gateway.access.tokens import TokenVerifier, roles
from gateway.errors import Unauthorized

REMEMBER_S = 60.0
REMEMBERED_MAX = 10_000


def _split(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.strip().partition(" ")
    return scheme.lower(), value.strip()


class Authenticator:
    def __init__(self, policy: Policy, keys: KeyStore, tokens: TokenVerifier | None = None) -> None:
        self.policy = policy
        self.keys = keys
        self.tokens = tokens
        self._seen: dict[str, tuple[float, Caller]] = {}  # credential digest -> (until, caller)
        self._lock = threading.Lock()

    def anonymous(self) -> Caller:
        if self.policy.anonymous is None:
            raise Unauthorized("this service needs an API key, a bearer token or a password")
        return Caller("anonymous", "anonymous", self.policy.anonymous)

    def quick(self, authorization: str | None, api_key: str | None) -> Caller | None:
        """The caller when it is known without I/O or hashing a password (None: ask
        ``caller``, in a thread)."""
        if authorization is not None:
            scheme, value = _split(authorization)
            if not (scheme == "bearer" and value.startswith(KEY_PREFIX)):
                return self._remembered(value)
            api_key = value
        if api_key is not None and self.keys.local:
            return self.key(api_key)
        return None

    def caller(self, authorization: str | None, api_key: str | None) -> Caller:
        """The caller of these credentials (``api_key``: X-API-Key or ``key=``)."""
        if authorization is not None:
            scheme, value = _split(authorization)
            if scheme == "bearer" and value:
                return self.key(value) if value.startswith(KEY_PREFIX) else self.token(value)
            if scheme == "basic" and value:
                return self.basic(value)
            raise Unauthorized("Authorization must be Bearer or Basic")
        if api_key is not None:
            return self.key(api_key)
        return self.anonymous()

    def key(self, key: str) -> Caller:
        digest = key_digest(key)
        record = self.policy.keys.get(digest) or self.keys.find(digest)
        if record is None:
            raise Unauthorized("the API key is not valid")
        return Caller(f"key:{record.id}", "key", record.grant)

    def token(self, token: str) -> Caller:
        if self.tokens is None:
            raise Unauthorized("this service takes no bearer tokens")
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        claims = self.tokens.claims(token)
        caller = Caller(f"oidc:{claims['sub']}", "token", self.policy.for_token(roles(claims)))
        expires = float(claims["exp"]) - time.time()
        self._remember(token, caller, min(REMEMBER_S, expires))
        return caller

    def basic(self, encoded: str) -> Caller:
        remembered = self._remembered(encoded)
        if remembered is not None:
            return remembered
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise Unauthorized("Basic credentials must be base64 of user:password") from None
        try:  # UTF-8 as our challenge asks; ISO-8859-1 as many clients (requests) send
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        name, colon, password = text.partition(":")
        user = self.policy.users.get(name)
        if not colon or user is None or not check_password(password, user.password):
            raise Unauthorized("unknown user or wrong password")
        caller = Caller(f"basic:{name}", "basic", user.grant)
        self._remember(encoded, caller, REMEMBER_S)
        return caller

    def _remembered(self, credential: str) -> Caller | None:
        digest = hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()
        with self._lock:
            seen = self._seen.get(digest)
        if seen is None or seen[0] < time.monotonic():
            return None
        return seen[1]

    def _remember(self, credential: str, caller: Caller, for_s: float) -> None:
        if for_s <= 0:
            return
        digest = hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()
        with self._lock:
            if len(self._seen) >= REMEMBERED_MAX:
                self._seen.clear()
            self._seen[digest] = (time.monotonic() + for_s, caller)
