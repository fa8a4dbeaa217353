"""Everything the OGC API door does to pygeoapi beyond configuring it, in one place.

Written for pygeoapi 0.24.0 and pygeofilter 0.4.0 (pinned in pyproject.toml).
tests/test_pygeoapi_compat.py holds a test for each item that fails when pygeoapi changes the
behaviour it answers, so that the patch can be dropped or adapted when the pin moves.

- ``pygeoapi.starlette_app`` reads its configuration from the files named by the
  ``PYGEOAPI_CONFIG``/``PYGEOAPI_OPENAPI`` environment variables when it is imported, and keeps
  it, its ``API`` object (``api_``) and its Starlette ``APP`` (built with ``debug=True``) in
  module globals: ``load_app`` executes a fresh copy of the module for each door.
- ``/conformance`` lists pygeoapi's module-level tables: ``advertise_features_classes`` edits
  the Features one in place.
- ``to_response`` is the module's private ``_to_response`` (a handler's headers, status and
  content as a Starlette response).
- ``fix_error_answers`` wraps ``API.get_exception``: pygeoapi types a problem detail as the
  requested format (``image/png`` for a map) and logs client errors at ERROR.
- ``with_param`` writes ``APIRequest``'s private ``_args`` (its query parameters).
- ``body_problem``: pygeoapi fails with a 500 on a POSTed body that is JSON but no object.
- ``api_view``, ``openapi_document``, ``landing_links``: the listings of the caller's
  collections, processes and paths (``gateway.ogcapi.visible``) run pygeoapi's handlers on a
  shallow copy of its ``API`` with its ``config`` or ``openapi`` replaced (the handlers read
  them from there); ``openapi`` holds the generated document as the JSON text of its file,
  answered as is (a dict is answered as its JSON); the landing page's JSON is the text of an
  object whose ``links`` are absolute (``api.base_url`` and below).
- ``validate_config`` is pygeoapi's ``validate_config`` (its configuration schema, YAML in
  ``SCHEMASDIR``) with the schema read once per process by libyaml and not itself checked
  against its metaschema at every start (pygeoapi's took ~0.5 s of each start-up).
- ``load_app`` hands the module the configuration file read by libyaml (pygeoapi's
  ``get_config`` reads it with a pure-Python loader that also replaces ``${VAR}`` with the
  environment's values: the door writes values, and a title holding ``${VAR}`` stays as
  written).
- ``import_cql2_parser``: pygeofilter builds its CQL2 text parser (LALR tables, ~0.3 s, over
  1 s on a loaded machine) when pygeoapi's item handlers are imported; it is imported with
  lark's cache of those tables, in a folder of this user's only, written whole or not at all.
- ``T_INTERSECTS``: pygeofilter parses CQL2's ``T_INTERSECTS`` as ``T_OVERLAPS`` (the filter
  model's translator, ``gateway.core.catalog.filters.translate``, reads it so).

In front of pygeoapi rather than inside it, and tested there too: ``crs.pygeoapi_crs``
(pygeoapi lower-cases CRS URIs and fails with a 500 on unknown CRSs), ``items`` (a 400
"Invalid provider type" for the items of a collection without features, a 500 for a POST
without a Content-Type) and ``gateway.registry.BuiltOnce`` (pygeoapi builds a plugin on every
request).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib.util
import json
import logging
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from pygeoapi.formats import F_HTML, F_JSON, FORMAT_TYPES
from pygeoapi.util import SCHEMASDIR, to_json
from starlette.responses import Response

from gateway import yamlio
from gateway.core.catalog.filters.translate import T_INTERSECTS  # noqa: F401 (tested here)

log = logging.getLogger(__name__)


CONFIG_SCHEMA = SCHEMASDIR / "config" / "pygeoapi-config-0.x.yml"


@functools.cache
def _config_validator() -> Validator:
    schema = yamlio.load(CONFIG_SCHEMA.read_text(encoding="utf-8"))
    return validator_for(schema)(schema)


def validate_config(config: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``config`` is a valid pygeoapi
    configuration (as ``pygeoapi.config.validate_config``, which reads and checks the schema
    each time)."""
    _config_validator().validate(json.loads(to_json(config)))


def load_app(config_path: Path, openapi_path: Path) -> ModuleType:
    """A fresh instance of pygeoapi's Starlette module, built from the given files.

    Each door gets its own module object (not the one in ``sys.modules``), so two apps in one
    process answer from their own configuration.
    """
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    spec = importlib.util.find_spec("pygeoapi.starlette_app")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    config_module: Any = sys.modules["pygeoapi.config"]  # the package's ``config``: a CLI group
    get_config = config_module.get_config

    def read_config(raw: bool = False) -> dict:
        return yamlio.load(config_path.read_text(encoding="utf-8"))

    config_module.get_config = read_config
    try:
        spec.loader.exec_module(module)
    finally:
        config_module.get_config = get_config
    module.APP.debug = False  # no tracebacks to clients
    return module


CQL2_PARSER = "pygeofilter.parsers.cql2_text.parser"


def private_cache_dir() -> Path | None:
    """A folder of this user's only for what start-up caches (None: none can be had)."""
    folder = Path(tempfile.gettempdir()) / f"cdse-gateway-cache-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(found.st_mode) and not found.st_mode & 0o077
    return folder if private and found.st_uid == os.getuid() else None


def import_cql2_parser(cache_dir: Path | None) -> None:
    """Import pygeofilter's CQL2 text parser with lark's cache of its parse tables in
    ``cache_dir`` (written at the first start, checked against the grammar at each; without
    a folder, or once imported, as it is).

    lark writes its cache in place (atomically only with the unmaintained ``atomicwrites``),
    so a process starting beside the one writing it read half a file and logged a traceback.
    Here lark's writes go to a file of this process's, renamed over the cache once whole; the
    cache is named after the grammar's content, so a new grammar never rewrites an old one."""
    if CQL2_PARSER in sys.modules or cache_dir is None:
        return
    import lark
    from lark import utils as lark_utils

    lark_class: Any = lark.Lark
    opener = lark_class.__dict__["open"]
    files: Any = lark_utils.FS
    plain_open = files.__dict__["open"]

    def cached(cls: type, grammar_filename: str, rel_to: str | None = None, **options: Any):
        grammar = Path(rel_to).parent / grammar_filename if rel_to else Path(grammar_filename)
        digest = hashlib.sha256(grammar.read_bytes()).hexdigest()[:16]
        cache = cache_dir / f"pygeofilter-cql2-text-lark-{lark.__version__}-{digest}.pickle"
        level = lark.logger.level  # pygeofilter sets DEBUG: no line on loading the cache
        lark.logger.setLevel(logging.WARNING)
        try:
            return opener.__func__(cls, grammar_filename, rel_to, cache=str(cache), **options)
        finally:
            lark.logger.setLevel(level)

    def whole_or_nothing(name: str, mode: str = "r", **options: Any):
        if "w" not in mode:
            return plain_open.__func__(name, mode, **options)
        return _replaced_when_written(Path(name), mode, **options)

    lark_class.open = classmethod(cached)
    files.open = staticmethod(whole_or_nothing)
    try:
        importlib.import_module(CQL2_PARSER)
    finally:
        lark_class.open = opener
        files.open = plain_open


@contextlib.contextmanager
def _replaced_when_written(path: Path, mode: str, **options: Any) -> Iterator[IO[Any]]:
    """A file to write ``path`` through: a file of this process's, renamed over ``path``
    once written whole (removed if the writing fails)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with partial.open(mode, **options) as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def advertise_features_classes(implemented: tuple[str, ...], missing: set[str]) -> None:
    """pygeoapi's Features conformance classes as this gateway implements them: its CQL2 and
    filter classes (``implemented``) instead of pygeoapi's, without the ``missing`` ones
    (pygeoapi reads this table when it answers /conformance; the same for every door of the
    process)."""
    from pygeoapi.api import itemtypes

    table = itemtypes.CONFORMANCE_CLASSES_FEATURES
    kept = [c for c in table if "/spec/cql2/" not in c and c not in missing]
    table[:] = [*kept, *implemented]


def to_response(starlette_app: ModuleType, headers: dict, status: int, content: Any) -> Response:
    """A pygeoapi handler's answer as the door's pygeoapi module makes it a response."""
    return starlette_app._to_response(headers, status, content)


def fix_error_answers(api: Any) -> None:
    """Every problem details answer of pygeoapi's ``api`` (they all go through
    ``api.get_exception``) is typed as the JSON it is unless HTML, and is logged once: a
    client error (4xx) as one INFO line, a server error at ERROR with the traceback of the
    exception behind it.

    pygeoapi's own request handlers (loggers ``pygeoapi.api.*``) log client errors at ERROR,
    with tracebacks and some twice, so they are kept to CRITICAL; its ``l10n`` module warns
    about each malformed ``lang`` parameter and, on ``/processes?f=html``, about every key of
    the configuration it takes for a locale (79 lines), so it is kept to ERROR.
    """
    logging.getLogger("pygeoapi.api").setLevel(logging.CRITICAL)
    logging.getLogger("pygeoapi.l10n").setLevel(logging.ERROR)
    render = api.get_exception

    def get_exception(
        status: int, headers: dict, format_: str | None, code: str, description: str
    ) -> tuple[dict, int, str]:
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            failed = sys.exc_info()[0] is not None
            log.error("OGC API %d %s: %s", status, code, description, exc_info=failed)
        else:
            log.info("OGC API %d %s: %s", status, code, description)
        headers, status, content = render(status, headers, format_, code, description)
        if headers.get("Content-Type") != FORMAT_TYPES[F_HTML]:
            headers["Content-Type"] = FORMAT_TYPES[F_JSON]
        return headers, status, content

    api.get_exception = get_exception


def with_param(request: Any, name: str, value: str) -> None:
    """Set a query parameter of a pygeoapi ``APIRequest`` (``request.params`` reads it)."""
    request._args = {**request.params, name: value}


def body_problem(body: bytes) -> str | None:
    """Why a POSTed body is not a JSON object, or None (pygeoapi fails on ``null``)."""
    try:
        document = json.loads(body or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return "the request body must be JSON"
    return None if isinstance(document, dict) else "the request body must be a JSON object"


def api_view(api: Any, **attributes: Any) -> Any:
    """A shallow copy of pygeoapi's ``API`` with ``attributes`` (``config``, ``openapi``)
    replaced, for one request's handler."""
    view = copy.copy(api)
    for name, value in attributes.items():
        setattr(view, name, value)
    return view


def openapi_document(api: Any) -> dict[str, Any]:
    """The OpenAPI document ``api`` answers (the text of its generated JSON file)."""
    document = api.openapi
    return json.loads(document) if isinstance(document, str) else document


def landing_links(api: Any, content: Any, keep: Callable[[dict[str, Any]], bool]) -> Any:
    """The landing page ``content`` with only the links ``keep`` keeps (HTML as it is)."""
    if not isinstance(content, str) or not content.lstrip().startswith("{"):
        return content
    page = json.loads(content)
    if "links" not in page:
        return content
    page["links"] = [link for link in page["links"] if keep(link)]
    return to_json(page, api.pretty_print)
