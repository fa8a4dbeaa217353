"""An OpenID issuer's JWKS endpoint on 127.0.0.1 (ThreadingHTTPServer) serving keys made in
the test, and tokens signed with them."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "https://identity.test/auth/realms/CDSE"
AUDIENCE = "cdse-gateway"


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


class JwksServer:
    """Serves ``{"keys": [...]}`` of ``self.keys`` (public parts); counts the fetches."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps({"keys": [k.as_dict(private=False) for k in owner.keys]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/certs"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def token(key: RSAKey, *, kid: str | None = None, lifetime: int = 300, **claims: Any) -> str:
    """An RS256 JWT signed by ``key`` (header ``kid``: the key's unless given); a claim given
    as None is left out."""
    now = int(time.time())
    payload = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + lifetime,
        **claims,
    }  # fmt: skip
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode({"alg": "RS256", "kid": kid or key.kid}, payload, key)
