"""The access file (``GATEWAY_ACCESS_FILE``, YAML): what callers without credentials, token
holders and HTTP Basic users may use, and keys written by hand.

.. code-block:: yaml

    anonymous: {doors: [wms, wmts], layers: [TRUE_COLOR]}   # absent: credentials required
    tokens:
      grant: {doors: "*", processes: false}     # any valid token
      roles:                                    # realm_access.roles / roles claim: first match
        gateway-processing: {doors: "*"}
    users:
      alice: {password: "scrypt$...", grant: {doors: [wcs]}}  # cdse-gateway keys hash-password
    keys:
      - {id: ops, name: monitoring, sha256: "<hex>", grant: {doors: [wms]}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import yamlio
from gateway.access.grants import Grant
from gateway.access.keys import KeyRecord


@dataclass(frozen=True)
class User:
    password: str  # scrypt$... (secrets.hash_password)
    grant: Grant


@dataclass(frozen=True)
class Policy:
    anonymous: Grant | None = None  # None: credentials required
    token_grant: Grant = field(default_factory=Grant)
    role_grants: tuple[tuple[str, Grant], ...] = ()
    users: Mapping[str, User] = field(default_factory=dict)
    keys: Mapping[str, KeyRecord] = field(default_factory=dict)  # by digest

    def for_token(self, roles: set[str]) -> Grant:
        return next((g for role, g in self.role_grants if role in roles), self.token_grant)


def _mapping(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping")
    return value


def read_policy(path: Path | None) -> Policy:
    """The policy of ``path`` (None: credentials required, any valid token may use all)."""
    if path is None:
        return Policy()
    data = _mapping(yamlio.load(path.read_text("utf-8")), str(path))
    unknown = set(data) - {"anonymous", "tokens", "users", "keys"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {', '.join(sorted(unknown))}")
    tokens = _mapping(data.get("tokens"), "tokens")
    users = {
        str(name): User(str(entry["password"]), Grant.of(entry.get("grant")))
        for name, entry in _mapping(data.get("users"), "users").items()
    }
    keys = [KeyRecord.of(item) for item in data.get("keys") or []]
    return Policy(
        anonymous=Grant.of(data["anonymous"]) if data.get("anonymous") is not None else None,
        token_grant=Grant.of(tokens.get("grant")),
        role_grants=tuple(
            (str(role), Grant.of(g)) for role, g in _mapping(tokens.get("roles"), "roles").items()
        ),
        users=users,
        keys={k.digest: k for k in keys},
    )
