"""What a request names: its door, and the collections and layers it asks for.

Read from the URL alone (the query's layer, coverage and type name parameters, the
``/collections/{id}`` and WMTS REST path segments), before any door runs: a tile answered
from the cache is checked like a rendered one. Names in request bodies (WFS XML queries,
process inputs) are checked by the doors (``gateway.access.visible``). Paths are read below
the app's root path (a proxy's ``X-Forwarded-Prefix``, uvicorn's ``--root-path``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from starlette.types import Scope

from gateway.access.grants import DOORS

# Parameters naming layers, coverages or feature types, in any door (upper case).
NAMING = ("LAYERS", "QUERY_LAYERS", "LAYER", "COVERAGE", "COVERAGEID", "IDENTIFIER",
          "IDENTIFIERS", "TYPENAME", "TYPENAMES", "COLLECTIONS")  # fmt: skip
COVERAGE_SEPARATOR = "__"  # WCS coverage ids of layers: <collection>__<layer>
PATH_DOORS = (
    ("/ogcapi/processes", "processes"),
    ("/ogcapi/jobs", "processes"),
    ("/ogcapi", "ogcapi"),
    ("/ogc/wms", "wms"),  # Sentinel Hub's instance URLs (gateway.ows.instances)
    ("/ogc/wmts", "wmts"),
    ("/ogc/wcs", "wcs"),
    ("/ogc/wfs", "wfs"),
    ("/wms", "wms"),
    ("/wmts", "wmts"),
    ("/wcs", "wcs"),
    ("/wfs", "wfs"),
)
# Open to everyone: probes, metrics, the viewer's page and files.
OPEN = frozenset({"/healthz", "/readyz", "/metrics", "/", "/favicon.ico"})
OPEN_UNDER = "/viewer/"
NO_DOOR = ""  # a path of no door (a 404 to be): credentials needed, no grant checked


def app_path(scope: Scope) -> str:
    """The request's path below the app's root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def is_open(path: str) -> bool:
    return path in OPEN or path.startswith(OPEN_UNDER)


def door_of(path: str, scope: Scope, service: Callable[[Scope], str]) -> str:
    """The door a request to ``path`` (``app_path``) is for; ``NO_DOOR`` for none."""
    if path.rstrip("/") == "/ows":
        asked = service(scope).lower()
        return asked if asked in DOORS else NO_DOOR  # another: the dispatcher's 400
    for prefix, door in PATH_DOORS:
        if path == prefix or path.startswith(prefix + "/"):
            return door
    return NO_DOOR


def named(path: str, params: Mapping[str, str]) -> Iterator[str]:
    """Every name the request's URL gives a layer, coverage, feature type or collection
    (``path``: ``app_path``; ``params``: the query, names upper case)."""
    for name in NAMING:
        value = params.get(name)
        if not value:
            continue
        for item in value.replace("(", ",").replace(")", ",").split(","):
            item = item.strip().rpartition(":")[2]  # a WFS type name's prefix
            if item:
                yield from item.split(COVERAGE_SEPARATOR) if COVERAGE_SEPARATOR in item else (item,)
    parts = path.split("/")
    for index, part in enumerate(parts[:-1]):
        if part == "collections":
            yield parts[index + 1]
    if path.startswith("/wmts/"):
        yield from parts[2:5]  # /wmts/1.0.0/<layer>/... : whichever is a layer counts
