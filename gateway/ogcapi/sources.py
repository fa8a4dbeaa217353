"""What an OGC API raster collection renders: a catalog collection's bands or a layer."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import GatewayConfig
from gateway.errors import InvalidParameterValue, NotFound


@dataclass(frozen=True)
class RasterSource:
    """A layer (``layer`` set) or a collection's bands, with the fields a client can select."""

    collection: str
    fields: tuple[str, ...]
    layer: str | None = None
    expression: str | None = None

    def expression_for(self, properties: list[str] | None) -> str:
        """The band-math expression giving the selected fields (all by default)."""
        chosen = list(properties) if properties else list(self.fields)
        unknown = [p for p in chosen if p not in self.fields]
        if unknown:
            raise InvalidParameterValue(f"unknown field {unknown[0][:40]!r}", locator="properties")
        if self.expression is None:
            return ";".join(chosen)
        parts = [part.strip() for part in self.expression.split(";") if part.strip()]
        return ";".join(parts[self.fields.index(name)] for name in chosen)


def layer_fields(name: str, expression: str) -> tuple[str, ...]:
    parts = [part.strip() for part in expression.split(";") if part.strip()]
    return tuple(parts) if len(parts) > 1 else (name,)


def resolve_source(config: GatewayConfig, name: str) -> RasterSource:
    """The source behind an OGC API collection id: a layer name or a catalog collection."""
    layer = config.layer(name)
    if layer is not None:
        fields = layer_fields(layer.name, layer.expression)
        return RasterSource(layer.collection, fields, layer=layer.name, expression=layer.expression)
    collection = config.collection(name)
    if collection is None:
        raise NotFound(f"unknown collection {name[:40]!r}", locator="collection")
    bands = tuple(b for b in collection.bands if b not in collection.categorical_bands)
    return RasterSource(collection.id, bands + tuple(collection.categorical_bands))
