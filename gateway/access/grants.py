"""What one key, token or user may use: doors, collections, layers, running processes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The doors a grant names (``/ows?SERVICE=X`` is door X's).
DOORS = ("wms", "wmts", "wcs", "wfs", "ogcapi", "processes")
EVERY = "*"


def _names(value: object, field: str) -> frozenset[str] | None:
    """``"*"`` or absent: None (every one); else a list of names."""
    if value is None or value == EVERY:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be '*' or a list of names")
    return frozenset(value)


@dataclass(frozen=True)
class Grant:
    """None in a field means every one; ``processes``: may run (execute) processes."""

    doors: frozenset[str] | None = None
    collections: frozenset[str] | None = None
    layers: frozenset[str] | None = None
    processes: bool = True

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Grant:
        """A grant from its configuration form (``{doors: [wms], collections: '*', ...}``)."""
        data = data or {}
        unknown = set(data) - {"doors", "collections", "layers", "processes"}
        if unknown:
            raise ValueError(f"unknown grant fields: {', '.join(sorted(unknown))}")
        doors = _names(data.get("doors"), "doors")
        if doors is not None and not doors <= set(DOORS):
            raise ValueError(f"doors must be among {', '.join(DOORS)}")
        processes = data.get("processes", True)
        if not isinstance(processes, bool):
            raise ValueError("processes must be true or false")
        collections = _names(data.get("collections"), "collections")
        return cls(doors, collections, _names(data.get("layers"), "layers"), processes)

    def as_data(self) -> dict[str, Any]:
        def out(names: frozenset[str] | None) -> str | list[str]:
            return EVERY if names is None else sorted(names)

        return {
            "doors": out(self.doors),
            "collections": out(self.collections),
            "layers": out(self.layers),
            "processes": self.processes,
        }

    def door(self, name: str) -> bool:
        return self.doors is None or name in self.doors

    def collection(self, collection_id: str) -> bool:
        return self.collections is None or collection_id in self.collections

    def layer(self, name: str, collection_id: str) -> bool:
        """A layer is usable when it and its collection are granted."""
        return (self.layers is None or name in self.layers) and self.collection(collection_id)

    def visible(self, ids: Iterable[str]) -> list[str]:
        """The collection ids of ``ids`` this grant allows."""
        return [i for i in ids if self.collection(i)]


EVERYTHING = Grant()
NOTHING = Grant(frozenset(), frozenset(), frozenset(), False)
