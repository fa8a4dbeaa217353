"""Who is calling: the credentials of a request checked into a ``Caller``.

Credentials come in ``Authorization`` (``Bearer <API key or JWT>``, ``Basic``), in
``X-API-Key``, or as the ``key`` query parameter (OGC clients that can only append
parameters). None at all: the anonymous caller, with the policy's ``anonymous`` grant, or 401
when it has none. Wrong credentials are always 401, never anonymous.
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

BASIC_CACHE_S = 60.0  # a checked password is not checked again (scrypt) for this long


class Authenticator:
    def __init__(self, policy: Policy, keys: KeyStore, tokens: TokenVerifier | None = None) -> None:
        self.policy = policy
        self.keys = keys
        self.tokens = tokens
        self._basic: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def anonymous(self) -> Caller:
        if self.policy.anonymous is None:
            raise Unauthorized("this service needs an API key, a bearer token or a password")
        return Caller("anonymous", "anonymous", self.policy.anonymous)

    def caller(self, authorization: str | None, api_key: str | None) -> Caller:
        """The caller of these credentials (``api_key``: X-API-Key or ``key=``)."""
        if authorization is not None:
            scheme, _, value = authorization.strip().partition(" ")
            value = value.strip()
            if scheme.lower() == "bearer" and value:
                return self.key(value) if value.startswith(KEY_PREFIX) else self.token(value)
            if scheme.lower() == "basic" and value:
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
        claims = self.tokens.claims(token)
        return Caller(f"oidc:{claims['sub']}", "token", self.policy.for_token(roles(claims)))

    def basic(self, encoded: str) -> Caller:
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
        if not colon or user is None:
            raise Unauthorized("unknown user or wrong password")
        seen = hashlib.sha256(text.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._basic.get(seen)
        if cached is not None and now - cached[0] < BASIC_CACHE_S:
            return cached[1]
        if not check_password(password, user.password):
            raise Unauthorized("unknown user or wrong password")
        caller = Caller(f"basic:{name}", "basic", user.grant)
        with self._lock:
            if len(self._basic) > 1000:
                self._basic.clear()
            self._basic[seen] = (now, caller)
        return caller
