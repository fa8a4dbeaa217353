"""OpenID Connect bearer tokens: RS256 JWTs (CDSE's identity service is Keycloak) checked
against the keys the issuer publishes (its JWKS), with their issuer, audience and expiry.

The JWKS is fetched when first needed, kept ``ttl_s``, and fetched again at once when a token
names a key id (``kid``) it does not hold (the issuer rotated its keys), at most once every
``MIN_REFRESH_S`` (random kids must not make the gateway hammer the issuer).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption

from gateway.errors import Unauthorized

log = logging.getLogger(__name__)
ALGORITHMS = ["RS256"]
MIN_REFRESH_S = 10.0
FETCH_TIMEOUT_S = 5.0
MAX_TOKEN_BYTES = 16_384


class Jwks:
    """The issuer's keys, by ``kid``."""

    def __init__(self, url: str, ttl_s: float = 3600.0) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched = -float("inf")

    def _fetch(self) -> None:
        with urllib.request.urlopen(self.url, timeout=FETCH_TIMEOUT_S) as answer:
            data = json.loads(answer.read(1 << 20))
        self._keys = KeySet.import_key_set(data)
        self._fetched = time.monotonic()

    def key(self, kid: str) -> Any | None:
        """The key ``kid``, fetching the set when it is stale or does not hold it."""
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched > self.ttl_s
            missing = self._keys is None or self._find(kid) is None
            if stale or (missing and now - self._fetched > MIN_REFRESH_S):
                try:
                    self._fetch()
                except (OSError, ValueError, JoseError) as error:
                    log.warning("JWKS %s unavailable: %s", self.url, error)
            return self._find(kid)

    def _find(self, kid: str) -> Any | None:
        if self._keys is None:
            return None
        return next((k for k in self._keys.keys if k.kid == kid), None)


class TokenVerifier:
    def __init__(self, jwks: Jwks, issuer: str | None, audience: str | None) -> None:
        self.jwks = jwks
        options: dict[str, ClaimsOption] = {
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if issuer:
            options["iss"] = {"essential": True, "value": issuer}
        if audience:
            options["aud"] = {"essential": True, "value": audience}
        self.registry = jwt.JWTClaimsRegistry(leeway=30, **options)  # type: ignore[arg-type]

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims; Unauthorized when it is not one the issuer signed for us now."""
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("the bearer token is too long")
        try:
            header = jws.extract_compact(token.encode("ascii")).protected
        except (JoseError, ValueError, UnicodeError):
            raise Unauthorized("the bearer token is not a JWT") from None
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
            raise Unauthorized("the bearer token is not signed with RS256 and a key id")
        key = self.jwks.key(kid)
        if key is None:
            raise Unauthorized("the bearer token is signed with a key the issuer does not list")
        try:
            decoded = jwt.decode(token, key, algorithms=ALGORITHMS)
            self.registry.validate(decoded.claims)
        except JoseError as error:
            raise Unauthorized(f"the bearer token is not valid: {_reason(error)}") from None
        return dict(decoded.claims)


def _reason(error: JoseError) -> str:
    """What is wrong, in words that carry nothing of the token."""
    return {
        "expired_token": "it has expired",
        "invalid_claim": "a claim has a wrong value (issuer or audience)",
        "missing_claim": "a required claim is missing",
        "bad_signature": "its signature does not verify",
    }.get(getattr(error, "error", ""), "it cannot be read")


def roles(claims: dict[str, Any]) -> set[str]:
    """Keycloak's realm roles and a plain ``roles`` claim."""
    found: set[str] = set()
    realm = claims.get("realm_access")
    for value in (realm.get("roles") if isinstance(realm, dict) else None, claims.get("roles")):
        if isinstance(value, list):
            found.update(str(v) for v in value)
    return found
