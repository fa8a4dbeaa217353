"""The official OGC schemas, offline: validate a served document as a validating client would.

The schemas are a copy of ``schemas.opengis.net`` (and two W3C schemas) with an OASIS XML
catalog, ``catalog.xml``, mapping their addresses to its files. The folder is found through
``OGC_SCHEMAS_DIR``, else ``../shared/ogc-schemas`` beside the repository; without either the
tests that need it skip, and fail under ``CI=true`` (``tests.support.external``).

The catalog is applied by an lxml resolver on our own parsers, not through libxml2's
``XML_CATALOG_FILES``: libxml2 reads that variable once, at the first external file the
process loads, and in a test process the app, OWSLib or MapProxy's own schemas may have loaded
one before (measured: set after that, the catalog is silently ignored). The resolver also
refuses what the catalog does not hold, where libxml2 would skip an unreadable ``xs:import``
with a warning and validate less than it seems to.

A document is validated against the schemas its own ``xsi:schemaLocation`` names (a DTD for a
``DOCTYPE``), which must include the expected ones, and every element must be declared by a
loaded schema: XML Schema lets an undeclared element through a lax wildcard (``wcs:Extension``,
``gmlcov:metadata``) unchecked, so the caller has to name such vendor namespaces.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from tests.support.external import unavailable

ENV = "OGC_SCHEMAS_DIR"
DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "ogc-schemas"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
# namespace -> schema of the parts the older tests validate on their own (see ``ogc_schema``)
COMMON = {
    "http://www.opengis.net/gml/3.2": "http://schemas.opengis.net/gml/3.2.1/gml.xsd",
    "http://www.opengis.net/ows/2.0": "http://schemas.opengis.net/ows/2.0/owsAll.xsd",
    "http://www.opengis.net/ows/1.1": "http://schemas.opengis.net/ows/1.1.0/owsAll.xsd",
    "http://www.opengis.net/fes/2.0": "http://schemas.opengis.net/filter/2.0/filterAll.xsd",
}

Fetch = Callable[[str], bytes]


def schemas_dir() -> Path:
    """The schema folder (holding ``catalog.xml``); skips the test (fails in CI) without it."""
    configured = os.environ.get(ENV)
    candidates = [Path(configured)] if configured else []
    candidates.append(DEFAULT)
    for folder in candidates:
        if (folder / "catalog.xml").is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    unavailable(f"the official OGC schemas are not there ({looked}): set {ENV} to a copy")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Catalog:
    """The rewrite and mapping entries of an OASIS catalog (``rewriteURI``, ``rewriteSystem``,
    ``uri``, ``system``) as (address prefix or address, local path) pairs."""

    prefixes: tuple[tuple[str, Path], ...]
    exact: tuple[tuple[str, Path], ...]

    @classmethod
    def read(cls, path: Path) -> Catalog:
        root = etree.parse(str(path)).getroot()
        base = path.parent
        prefixes, exact = [], []
        for entry in root:
            name = etree.QName(entry).localname if isinstance(entry.tag, str) else ""
            if name in ("rewriteURI", "rewriteSystem"):
                start = entry.get("uriStartString") or entry.get("systemIdStartString")
                prefixes.append((start, base / entry.get("rewritePrefix")))
            elif name in ("uri", "system"):
                exact.append((entry.get("name") or entry.get("systemId"), base / entry.get("uri")))
        prefixes.sort(key=lambda pair: len(pair[0]), reverse=True)  # the longest prefix wins
        return cls(tuple(prefixes), tuple(exact))

    def local(self, url: str) -> Path | None:
        for address, path in self.exact:
            if url == address:
                return path
        for start, folder in self.prefixes:
            if url.startswith(start):
                return folder / url[len(start) :]
        return None


@functools.cache
def catalog() -> Catalog:
    return Catalog.read(schemas_dir() / "catalog.xml")


@dataclass(eq=False)
class Loader(etree.Resolver):
    """Resolves schema addresses through the catalog, and the addresses of ``served`` (the
    server under test, e.g. a DescribeFeatureType URL) with ``fetch``; records every file it
    hands out and every address it could not."""

    served: str | None = None
    fetch: Fetch | None = None
    loaded: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def resolve(self, url, pubid, context):
        content = self.content(url)
        if content is None:
            self.missing.append(url)
            return None
        self.loaded.add(url)
        # The address stays the document's base: its relative includes resolve to addresses
        # again, so that a schema reached by two paths is one schema to libxml2.
        return self.resolve_string(content, context, base_url=url)

    def content(self, url: str) -> bytes | None:
        """The schema at ``url``: from the server under test, else from the catalog."""
        if self.served and self.fetch and url.startswith(self.served):
            return self.fetch(url)
        path = catalog().local(url)
        return path.read_bytes() if path is not None and path.is_file() else None

    def parser(self) -> etree.XMLParser:
        parser = etree.XMLParser(no_network=True)
        parser.resolvers.add(self)
        return parser

    def check(self) -> None:
        if self.missing:
            raise AssertionError(f"schemas not found offline: {sorted(set(self.missing))}")


@dataclass(frozen=True)
class Compiled:
    """A compiled schema and the (namespace, name) of every element its documents declare."""

    schema: etree.XMLSchema
    declared: frozenset[tuple[str, str]]


def _declared_in(url: str, loader: Loader) -> frozenset[tuple[str, str]]:
    if loader.served and url.startswith(loader.served):
        return _declarations(loader.content(url) or b"<x/>")
    return _offline_declarations(url)


@functools.cache
def _offline_declarations(url: str) -> frozenset[tuple[str, str]]:
    return _declarations(Loader().content(url) or b"<x/>")


def _declarations(schema: bytes) -> frozenset[tuple[str, str]]:
    """(namespace, name) of the global and local element declarations of a schema document."""
    root = etree.fromstring(schema)
    target = root.get("targetNamespace", "")
    qualified = root.get("elementFormDefault") == "qualified"
    found = set()
    for element in root.iter(f"{{{XS}}}element"):
        name = element.get("name")
        if name is None:
            continue
        form = element.get("form")
        local_qualified = qualified if form is None else form == "qualified"
        in_target = element.getparent() is root or local_qualified
        found.add((target if in_target else "", name))
    return frozenset(found)


def compile_imports(
    pairs: Iterable[tuple[str, str]], served: str | None = None, fetch: Fetch | None = None
) -> Compiled:
    """One schema importing each (namespace, location); every import must resolve offline
    (or, for addresses under ``served``, from the server under test)."""
    pairs = tuple(pairs)
    catalog()  # skips here: an exception inside a resolver would only fail the import
    if served is None:
        return _compile_offline(pairs)
    return _compile(pairs, Loader(served, fetch))


@functools.cache
def _compile_offline(pairs: tuple[tuple[str, str], ...]) -> Compiled:
    return _compile(pairs, Loader())


def _compile(pairs: tuple[tuple[str, str], ...], loader: Loader) -> Compiled:
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{_escape(location)}"/>'
        for ns, location in pairs
    )
    text = f'<xs:schema xmlns:xs="{XS}">{imports}</xs:schema>'
    wrapper = etree.fromstring(text.encode(), loader.parser(), base_url="urn:cdse-gateway:tests")
    schema = etree.XMLSchema(wrapper)
    loader.check()
    declared = frozenset().union(*(_declared_in(url, loader) for url in loader.loaded))
    return Compiled(schema, declared)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def schema_locations(root: etree._Element) -> list[tuple[str, str]]:
    """The (namespace, location) pairs of a document's ``xsi:schemaLocation``."""
    values = (root.get(f"{{{XSI}}}schemaLocation") or "").split()
    if len(values) % 2:
        raise AssertionError(f"xsi:schemaLocation is not namespace/location pairs: {values}")
    return list(zip(values[::2], values[1::2], strict=True))


def validate(
    content: bytes,
    expected: Iterable[str],
    *,
    vendor: Iterable[str] = (),
    served: str | None = None,
    fetch: Fetch | None = None,
) -> etree._Element:
    """Validate a served document against the schemas (or the DTD) it names itself, which must
    include ``expected`` (locations); an element no loaded schema declares is an error unless
    its namespace is listed in ``vendor``. Returns the parsed document's root."""
    document = etree.ElementTree(etree.fromstring(content, etree.XMLParser(no_network=True)))
    root = document.getroot()
    expected = list(expected)
    doctype = document.docinfo.system_url
    catalog()
    if doctype:
        assert [doctype] == expected, f"DOCTYPE names {doctype}, expected {expected}"
        _validate_dtd(document, doctype)
        return root
    pairs = schema_locations(root)
    assert pairs, "the document names no schema (no xsi:schemaLocation)"
    missing = [location for location in expected if location not in {loc for _, loc in pairs}]
    assert not missing, f"xsi:schemaLocation {pairs} does not name {missing}"
    compiled = compile_imports(pairs, served, fetch)
    _assert_valid(compiled.schema, document)
    used = {_name(element) for element in root.iter() if isinstance(element.tag, str)}
    undeclared = {name for name in used - compiled.declared if name[0] not in set(vendor)}
    assert not undeclared, f"elements no loaded schema declares: {sorted(undeclared)}"
    return root


def _name(element: etree._Element) -> tuple[str, str]:
    qname = etree.QName(element)
    return qname.namespace or "", qname.localname


def _validate_dtd(document: etree._ElementTree, system_url: str) -> None:
    path = catalog().local(system_url)
    assert path is not None and path.is_file(), f"DTD {system_url} is not in the catalog"
    dtd = etree.DTD(str(path))
    if not dtd.validate(document):
        raise AssertionError("\n".join(str(e) for e in dtd.error_log.filter_from_errors()[:10]))


def _assert_valid(schema: etree.XMLSchema, document: etree._ElementTree) -> None:
    if not schema.validate(document):
        raise AssertionError("\n".join(str(e) for e in schema.error_log[:10]))


# --- the older tests' interface: parts of documents against GML 3.2, OWS, FES ------------


def ogc_schema() -> etree.XMLSchema:
    """One schema of GML 3.2.1, OWS 2.0, OWS 1.1 and FES 2.0 (validates any of their global
    elements: ows:ExceptionReport, gml:RectifiedGrid, fes:Filter_Capabilities...)."""
    return compile_imports(COMMON.items()).schema


def schema_from(document: bytes) -> etree.XMLSchema:
    """Compile an XSD served by the gateway (DescribeFeatureType); its imports resolve offline."""
    catalog()
    loader = Loader()
    parsed = etree.fromstring(document, loader.parser(), base_url="urn:cdse-gateway:dft")
    schema = etree.XMLSchema(parsed)
    loader.check()
    return schema


def assert_valid(schema: etree.XMLSchema, element: etree._Element) -> None:
    """Validate ``element`` as a document of its own; fail with the schema's messages."""
    _assert_valid(schema, etree.ElementTree(etree.fromstring(etree.tostring(element))))
