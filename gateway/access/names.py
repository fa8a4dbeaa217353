"""What a request names: its door, and the collections and layers it asks for.

Read from the URL alone (the query's layer, coverage and type name parameters, the
``/collections/{id}`` and WMTS REST path segments), before any door runs: a tile answered
from the cache is checked like a rendered one. Names in request bodies (WFS XML queries,
process inputs) are checked by the doors (``gateway.access.visible``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from starlette.types import Scope

# Parameters naming layers, coverages or feature types, in any door (upper case).
NAMING = ("LAYERS", "QUERY_LAYERS", "LAYER", "COVERAGE", "COVERAGEID", "IDENTIFIER",
          "IDENTIFIERS", "TYPENAME", "TYPENAMES", "COLLECTIONS")  # fmt: skip
COVERAGE_SEPARATOR = "__"  # WCS coverage ids of layers: <collection>__<layer>
PATH_DOORS = (
    ("/ogcapi/processes", "processes"),
    ("/ogcapi/jobs", "processes"),
    ("/ogcapi", "ogcapi"),
    ("/wms", "wms"),
    ("/wmts", "wmts"),
    ("/wcs", "wcs"),
    ("/wfs", "wfs"),
)


def door_of(scope: Scope, service: Callable[[Scope], str]) -> str | None:
    """The door a request is for (None: the viewer, health, metrics)."""
    path: str = scope["path"]
    if path.rstrip("/").endswith("/ows"):
        return service(scope).lower() or None
    for prefix, door in PATH_DOORS:
        if path == prefix or path.startswith(prefix + "/"):
            return door
    return None


def named(scope: Scope, params: Mapping[str, str]) -> Iterator[str]:
    """Every name the request's URL gives a layer, coverage, feature type or collection
    (``params``: the query, names upper case)."""
    for name in NAMING:
        value = params.get(name)
        if not value:
            continue
        for item in value.replace("(", ",").replace(")", ",").split(","):
            item = item.strip().rpartition(":")[2]  # a WFS type name's prefix
            if item:
                yield from item.split(COVERAGE_SEPARATOR) if COVERAGE_SEPARATOR in item else (item,)
    parts = scope["path"].split("/")
    for index, part in enumerate(parts[:-1]):
        if part == "collections":
            yield parts[index + 1]
    if scope["path"].startswith("/wmts/"):
        yield from parts[2:5]  # /wmts/1.0.0/<layer>/... : whichever is a layer counts
