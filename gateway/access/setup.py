"""The access control the settings ask for: the key store, the policy, the token verifier."""

from __future__ import annotations

from gateway.access.authenticate import Authenticator
from gateway.access.keys import FileKeyStore, KeyStore, RedisKeyStore
from gateway.access.policy import read_policy
from gateway.access.tokens import Jwks, TokenVerifier
from gateway.settings import Settings


def key_store(settings: Settings) -> KeyStore:
    """Redis (``GATEWAY_ACCESS_KEY_STORE=redis``, at ``GATEWAY_REDIS_URL``) or the key file."""
    if settings.access_key_store == "redis":
        if not settings.redis_url:
            raise ValueError("GATEWAY_ACCESS_KEY_STORE=redis needs GATEWAY_REDIS_URL")
        return RedisKeyStore(settings.redis_url)
    return FileKeyStore(settings.key_file)


def authenticator(settings: Settings) -> Authenticator | None:
    """None when access control is off."""
    if settings.access == "off":
        return None
    tokens = None
    if settings.oidc_jwks_url:
        jwks = Jwks(settings.oidc_jwks_url, settings.oidc_jwks_ttl_s)
        tokens = TokenVerifier(jwks, settings.oidc_issuer, settings.oidc_audience)
    return Authenticator(read_policy(settings.access_file), key_store(settings), tokens)
