"""OGC XML schemas for validation, loaded from an installed package, never from the network.

The only registry package found that ships OGC XSDs is pycsw (PyPI, 2.6.2): GML 3.2.1,
OWS 1.1.0 and 2.0, Filter Encoding 2.0, XLink and xml.xsd under ``pycsw/core/schemas``. It
is installed with ``--no-deps`` (it pins OWSLib<0.29) and only its files are read. No
package found ships the WCS 1.0/1.1/2.0, GMLCOV, SWE Common or WFS 2.0 schemas, so those
document wrappers cannot be validated; their OWS, GML and FES parts are.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from lxml import etree

OPENGIS = "http://schemas.opengis.net/"
# schemas.opengis.net folder -> folder inside pycsw/core/schemas
FOLDERS = {
    "gml/3.2.1/": "ogc/gml/3.2.1/",
    "ows/2.0/": "ogc/ows/2.0/",
    "ows/1.1.0/": "ogc/ows/1.1.0/",
    "filter/2.0/": "ogc/filter/2.0/",
    "xlink/1.0.0/xlinks.xsd": "w3c/1999/xlink.xsd",
}
ROOTS = {
    "http://www.opengis.net/gml/3.2": "gml/3.2.1/gml.xsd",
    "http://www.opengis.net/ows/2.0": "ows/2.0/owsAll.xsd",
    "http://www.opengis.net/ows/1.1": "ows/1.1.0/owsAll.xsd",
    "http://www.opengis.net/fes/2.0": "filter/2.0/filterAll.xsd",
}


def schema_root() -> Path:
    """``pycsw/core/schemas`` of the installed pycsw (found without importing it)."""
    spec = importlib.util.find_spec("pycsw")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pycsw is not installed: pip install --no-deps pycsw==2.6.2")
    return Path(next(iter(spec.submodule_search_locations))) / "core" / "schemas"


class LocalSchemas(etree.Resolver):
    """Maps schemas.opengis.net and w3.org schema URLs to the package's files."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def local(self, url: str) -> Path | None:
        if url == "http://www.w3.org/2001/xml.xsd":
            return self.root / "w3c" / "2001" / "xml.xsd"
        if url in ("http://www.w3.org/1999/xlink.xsd",):
            return self.root / "w3c" / "1999" / "xlink.xsd"
        if url.startswith(OPENGIS):
            rest = url[len(OPENGIS) :]
            for prefix, folder in FOLDERS.items():
                if rest.startswith(prefix):
                    return self.root / (folder + rest[len(prefix) :])
        return None

    def resolve(self, url, pubid, context):
        path = self.local(url)
        if path is None or not path.exists():
            return None  # the parser has no network access: unresolved imports fail
        return self.resolve_filename(str(path), context)


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=True)
    parser.resolvers.add(LocalSchemas(schema_root()))
    return parser


@functools.cache
def ogc_schema() -> etree.XMLSchema:
    """One schema importing GML 3.2.1, OWS 2.0, OWS 1.1 and FES 2.0 (validates any of their
    global elements: ows:ExceptionReport, gml:RectifiedGrid, fes:Filter_Capabilities...)."""
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{OPENGIS}{path}"/>'
        for ns, path in ROOTS.items()
    )
    text = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    document = etree.fromstring(text.encode(), _parser(), base_url="urn:cdse-gateway:tests")
    return etree.XMLSchema(document)


def schema_from(document: bytes) -> etree.XMLSchema:
    """Compile an XSD served by the gateway (DescribeFeatureType); its imports resolve locally."""
    return etree.XMLSchema(etree.fromstring(document, _parser(), base_url="urn:cdse-gateway:dft"))


def assert_valid(schema: etree.XMLSchema, element: etree._Element) -> None:
    """Validate ``element`` as a document of its own; fail with the schema's messages."""
    document = etree.ElementTree(etree.fromstring(etree.tostring(element)))
    if not schema.validate(document):
        raise AssertionError("\n".join(str(e) for e in schema.error_log[:10]))
