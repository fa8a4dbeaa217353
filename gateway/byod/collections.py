"""Collections made by ``cdse-gateway ingest`` that the configuration does not describe:
derived from their collection documents (bands, units, value range), each with one layer."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from pydantic import ValidationError

from gateway.byod.catalog import BYOD_KEY
from gateway.byod.inputs import BadInput
from gateway.byod.options import check_name
from gateway.config import CollectionConfig, GatewayConfig, LayerConfig
from gateway.core.styles import ColorStop, Style
from gateway.settings import Settings

log = logging.getLogger(__name__)


def own_collection_documents(settings: Settings) -> list[dict]:
    """The ingested collections of the catalog in use: the STAC API's (``GATEWAY_STAC_URL``;
    none when it does not answer) or the static catalog's."""
    if not settings.stac_url:
        return own_collections(settings.static_catalog_dir)
    try:
        return stac_api_collections(settings.stac_url, settings.stac_timeout_s)
    except BadInput as exc:
        log.warning("no ingested collections: %s", exc.message)
        return []


def stac_api_collections(url: str, timeout_s: float) -> list[dict]:
    """The ingested collections of the STAC API at ``url`` (every page of ``/collections``,
    each request tried once), by id; ``BadInput`` when it does not answer."""
    from gateway.byod.stac_api import StacApiWriter  # httpx: a STAC API's deployments only

    documents = StacApiWriter(url, timeout_s).collections()
    return sorted((d for d in documents if _served(d)), key=lambda d: str(d.get("id")))


def own_collections(stac_dir: Path) -> list[dict]:
    """The ``collection.json`` documents the ingest wrote, by id."""
    found = []
    for path in sorted(stac_dir.glob("collections/*/collection.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _served(document):
            found.append(document)
    return found


def _served(document: dict) -> bool:
    """Made by the ingest and holding items (their bands)."""
    summaries = document.get("summaries")
    return bool(
        document.get(BYOD_KEY)
        and isinstance(document.get("id"), str)
        and isinstance(summaries, dict)
        and summaries.get("bands")
    )


def catalog_stamp(stac_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Each collection document's folder, modification time and size: it changes when an
    ingest adds, changes or empties a collection (one ``stat`` a collection)."""
    stamps = []
    for path in sorted(stac_dir.glob("collections/*/collection.json")):
        try:
            found = path.stat()
        except OSError:
            continue
        stamps.append((path.parent.name, found.st_mtime_ns, found.st_size))
    return tuple(stamps)


def layer_name(collection_id: str) -> str:
    """``field-surveys`` -> ``FIELD_SURVEYS``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", collection_id).upper()


def derived_collection(document: dict) -> CollectionConfig:
    """Bands (and their units) as the first item has them; values as stored x scale +
    offset of each asset."""
    bands = document["summaries"]["bands"]
    return CollectionConfig(
        id=document["id"],
        title=document.get("title") or document["id"],
        bands=tuple(b["name"] for b in bands),
        band_units=tuple((b["name"], b["unit"]) for b in bands if b.get("unit")),
    )


def derived_style(document: dict, shown: list[dict]) -> Style:
    """Grey from the lowest to the highest value of the bands shown (their statistics)."""
    lows = [b["statistics"]["minimum"] for b in shown if "statistics" in b]
    highs = [b["statistics"]["maximum"] for b in shown if "statistics" in b]
    low, high = (min(lows), max(highs)) if lows else (0.0, 1.0)
    high = high if high > low else low + 1.0
    grey = [ColorStop(value=0, color="#000000"), ColorStop(value=1, color="#ffffff")]
    return Style(
        name=f"byod_{document['id']}",
        kind="rgb" if len(shown) == 3 else "ramp",
        stops=[] if len(shown) == 3 else grey,
        min=low,
        max=high,
        title=f"{document['id']}: {low:g} to {high:g}",
    )


def derived_layer(document: dict) -> tuple[LayerConfig, Style]:
    """The first three bands as red, green, blue (three bands or more), else the first;
    read with nearest neighbour."""
    bands = document["summaries"]["bands"]
    shown = bands[:3] if len(bands) >= 3 else bands[:1]
    style = derived_style(document, shown)
    layer = LayerConfig(
        name=layer_name(document["id"]),
        title=document.get("title") or document["id"],
        collection=document["id"],
        expression=";".join(b["name"] for b in shown),
        style=style.name,
        resampling="nearest",  # values as stored: a classification keeps its classes
        unit=shown[0].get("unit", "1") if len(shown) == 1 else "1",
        abstract=document.get("description", ""),
    )
    return layer, style


def with_own_collections(config: GatewayConfig, documents: list[dict]) -> GatewayConfig:
    """``config`` and the ingested collections (``own_collection_documents``) it does not
    describe, with their layers."""
    known = {c.id for c in config.collections}
    names = {layer.name.upper() for layer in config.layers}
    collections, layers, styles = [], [], []
    for document in documents:
        if document["id"] in known:
            continue
        try:
            _check_derivable(document)
            layer, style = derived_layer(document)
            collection = derived_collection(document)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            log.warning(
                "collection %s of yours is not served: no layer can be derived from its "
                "document (%s)", document["id"], _why(exc),
            )  # fmt: skip
            continue
        collections.append(collection)
        if layer.name.upper() not in names:
            layers.append(layer)
            styles.append(style)
    if not collections:
        return config
    return config.model_copy(
        update={
            "collections": config.collections + tuple(collections),
            "layers": config.layers + tuple(layers),
            "styles": config.styles + tuple(styles),
        }
    )


def _check_derivable(document: dict) -> None:
    """``ValueError`` saying why no layer comes from ``document``, when the ingest could not
    have written it so (an id or band names it refuses, statistics without both ends)."""
    try:
        check_name("collection", document["id"])
    except BadInput as exc:
        raise ValueError(exc.message) from None
    bands = document["summaries"]["bands"]
    if not isinstance(bands, list) or not all(isinstance(b, dict) for b in bands):
        raise ValueError("summaries.bands is not a list of objects")
    for band in bands:
        name = band.get("name")
        if not isinstance(name, str):
            raise ValueError("a band has no name")
        try:
            check_name("band", name)
        except BadInput as exc:
            raise ValueError(exc.message) from None
        if "statistics" in band and not _has_range(band["statistics"]):
            raise ValueError(f"band {name}: statistics without a numeric minimum and maximum")


def _has_range(statistics: object) -> bool:
    return isinstance(statistics, dict) and all(
        isinstance(statistics.get(end), int | float) and not isinstance(statistics[end], bool)
        for end in ("minimum", "maximum")
    )


def _why(exc: Exception) -> str:
    """What a document lacks, in a few words."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} where it is needed"
    if type(exc) is ValueError:
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
