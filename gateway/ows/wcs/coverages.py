"""The coverages WCS offers: each collection's raw bands, and each layer (``collection__LAYER``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gateway.access.visible import may_use_collection, may_use_layer
from gateway.config import GatewayConfig, LayerConfig
from gateway.core.catalog.summary import CatalogSummaries
from gateway.errors import NotFound

SEPARATOR = "__"
NODATA = "NaN"  # the nodata of every float32 coverage the engine encodes (core.render)
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Field:
    """One range component: its name, the expression computing it, its unit and meaning."""

    name: str
    expression: str
    uom: str  # UCUM code: "1" for reflectance and indices
    description: str
    categorical: bool = False


@dataclass(frozen=True)
class Coverage:
    """One offered coverage; ``bbox`` is lon/lat, ``times`` the listed acquisition instants,
    ``first``/``last`` the advertised period (None: open, where the listing is partial)."""

    id: str
    title: str
    collection: str
    layer: str | None
    fields: tuple[Field, ...]
    bbox: tuple[float, float, float, float]
    times: tuple[datetime, ...]
    first: datetime | None = None
    last: datetime | None = None

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _band_fields(config: GatewayConfig, collection: str) -> tuple[Field, ...]:
    conf = config.collection(collection)
    assert conf is not None
    return tuple(
        Field(
            band,
            band,
            conf.band_unit(band) or "1",
            _band_description(band, conf.categorical_bands, conf.band_unit(band)),
            categorical=band in conf.categorical_bands,
        )
        for band in conf.bands
    )


def _band_description(band: str, categorical: tuple[str, ...], unit: str | None) -> str:
    if band in categorical:
        return f"{band} class"
    return f"{band} ({unit})" if unit else f"{band} reflectance"


def _layer_fields(layer: LayerConfig, categorical: tuple[str, ...]) -> tuple[Field, ...]:
    parts = [p.strip() for p in layer.expression.split(";") if p.strip()]
    if len(parts) == 1:
        return (Field(layer.name, parts[0], layer.unit, layer.title, parts[0] in categorical),)
    return tuple(
        Field(
            part if _NCNAME.match(part) else f"band{index}",
            part,
            "1",
            f"{layer.title}: {part}",
            part in categorical,
        )
        for index, part in enumerate(parts, start=1)
    )


class CoverageCatalog:
    """Coverages built from the configuration and the catalog summaries."""

    def __init__(self, config: GatewayConfig, summaries: CatalogSummaries) -> None:
        self._config = config
        self._summaries = summaries

    def ids(self) -> list[str]:
        """The coverage ids the current caller may use."""
        ids = [c.id for c in self._config.collections if may_use_collection(c.id)]
        ids += [
            f"{layer.collection}{SEPARATOR}{layer.name}"
            for layer in self._config.layers
            if may_use_layer(layer.name, layer.collection) and layer.evalscript is None
        ]
        return ids

    def all(self) -> list[Coverage]:
        """Every coverage whose collection holds at least one scene."""
        found = (self.get(coverage_id, missing_ok=True) for coverage_id in self.ids())
        return [c for c in found if c is not None]

    def get(self, coverage_id: str, *, missing_ok: bool = False) -> Coverage | None:
        """The coverage ``coverage_id``; NoSuchCoverage (404) when unknown or empty."""
        collection_id, _, layer_name = coverage_id.partition(SEPARATOR)
        collection = self._config.collection(collection_id)
        layer = self._config.layer(layer_name) if layer_name else None
        known = collection is not None and (not layer_name or layer is not None)
        if known and layer is not None and layer.collection != collection_id:
            known = False
        if known:  # one the caller may not use is no coverage of theirs
            known = (
                may_use_layer(layer.name, collection_id)
                if layer is not None
                else may_use_collection(collection_id)
            )
        summary = self._summaries.get(collection_id) if known else None
        if summary is None or not summary.times:
            if missing_ok:
                return None
            raise NotFound(
                f"no coverage {coverage_id[:60]!r}", locator="coverageId", code="NoSuchCoverage"
            )
        assert collection is not None
        if layer is None:
            fields = _band_fields(self._config, collection_id)
            title, cov_id = collection.title, collection.id
        else:
            fields = _layer_fields(layer, collection.categorical_bands)
            title, cov_id = (
                f"{layer.title} ({collection.id})",
                f"{collection.id}{SEPARATOR}{layer.name}",
            )
        return Coverage(
            id=cov_id,
            title=title,
            collection=collection.id,
            layer=layer.name if layer else None,
            fields=fields,
            bbox=summary.extent,
            times=summary.times,
            first=summary.first,
            last=summary.last,
        )
