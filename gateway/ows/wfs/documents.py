"""WFS 2.0.0 metadata documents: capabilities, DescribeFeatureType XSD, stored queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from lxml import etree

from gateway.ows.wfs.features import GEOMETRY, NAMESPACE, PREFIX, PROPERTIES
from gateway.ows.wfs.filters import COMPARISON_NAMES, SPATIAL_NAMES, TEMPORAL_NAMES
from gateway.ows.xml import XLINK, XSI, fmt, sub

WFS = "http://www.opengis.net/wfs/2.0"
OWS = "http://www.opengis.net/ows/1.1"
FES = "http://www.opengis.net/fes/2.0"
GML = "http://www.opengis.net/gml/3.2"
XSD = "http://www.w3.org/2001/XMLSchema"
WFS_SCHEMA = "http://schemas.opengis.net/wfs/2.0/wfs.xsd"
GML_SCHEMA = "http://schemas.opengis.net/gml/3.2.1/gml.xsd"
NSMAP = {"wfs": WFS, "ows": OWS, "fes": FES, "gml": GML, "xlink": XLINK, "xsi": XSI, "xsd": XSD,
         PREFIX: NAMESPACE}  # fmt: skip
GET_FEATURE_BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
OPERATIONS = ("GetCapabilities", "DescribeFeatureType", "GetFeature", "GetPropertyValue",
              "ListStoredQueries", "DescribeStoredQueries")  # fmt: skip
GML_FORMATS = ("application/gml+xml; version=3.2", "text/xml; subtype=gml/3.2")
JSON_FORMATS = ("application/json", "application/geo+json")
OUTPUT_FORMATS = GML_FORMATS + JSON_FORMATS
OTHER_CRS = (3857, 4258, 3035, *range(32628, 32639))
DEFAULT_CRS = "urn:ogc:def:crs:EPSG::4326"
TRUE_CONSTRAINTS = ("ImplementsBasicWFS", "KVPEncoding", "XMLEncoding",
                    "ImplementsResultPaging")  # fmt: skip
FALSE_CONSTRAINTS = ("ImplementsTransactionalWFS", "ImplementsLockingWFS", "SOAPEncoding",
                     "ImplementsInheritance", "ImplementsRemoteResolve",
                     "ImplementsStandardJoins", "ImplementsSpatialJoins",
                     "ImplementsTemporalJoins", "ImplementsFeatureVersioning",
                     "ManageStoredQueries")  # fmt: skip
FES_TRUE = ("ImplementsQuery", "ImplementsAdHocQuery", "ImplementsResourceId",
            "ImplementsMinStandardFilter", "ImplementsStandardFilter",
            "ImplementsMinSpatialFilter", "ImplementsMinTemporalFilter",
            "ImplementsSorting")  # fmt: skip
FES_FALSE = ("ImplementsFunctions", "ImplementsSpatialFilter", "ImplementsTemporalFilter",
             "ImplementsVersionNav", "ImplementsExtendedOperators", "ImplementsMinimumXPath",
             "ImplementsSchemaElementFunc")  # fmt: skip


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def schema_location(root: etree._Element, *pairs: tuple[str, str]) -> None:
    """Name the schema of each (namespace, location) in ``xsi:schemaLocation``."""
    root.set(_q(XSI, "schemaLocation"), " ".join(f"{ns} {location}" for ns, location in pairs))


def feature_schema_url(service_url: str, names: Iterable[str]) -> str:
    """The DescribeFeatureType request (KVP) for the feature types ``names``: the schema that
    GML answers name for their features."""
    type_names = ",".join(f"{PREFIX}:{name}" for name in dict.fromkeys(names))
    query = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "DescribeFeatureType",
             "TYPENAMES": type_names}  # fmt: skip
    return f"{service_url}?{urlencode(query)}"


def _constraint(parent: etree._Element, ns: str, name: str, value: str) -> None:
    element = sub(parent, _q(ns, "Constraint"), name=name)
    sub(element, _q(OWS, "NoValues"))
    sub(element, _q(OWS, "DefaultValue"), value)


def capabilities(
    types: Sequence[tuple[str, str, tuple[float, float, float, float] | None]],
    href: str,
    count_default: int,
) -> etree._Element:
    """``types``: (collection id, title, lon/lat bbox) per feature type; ``href``: the
    service URL (KVP by GET at ``href?``, XML by POST at ``href``)."""
    root = etree.Element(_q(WFS, "WFS_Capabilities"), nsmap=NSMAP, version="2.0.0")
    schema_location(root, (WFS, WFS_SCHEMA))
    ident = sub(root, _q(OWS, "ServiceIdentification"))
    sub(ident, _q(OWS, "Title"), "CDSE gateway WFS")
    sub(ident, _q(OWS, "Abstract"), "Footprints of the Copernicus scenes the gateway serves.")
    sub(ident, _q(OWS, "ServiceType"), "WFS", codeSpace="OGC")
    sub(ident, _q(OWS, "ServiceTypeVersion"), "2.0.0")
    sub(ident, _q(OWS, "Fees"), "NONE")
    sub(ident, _q(OWS, "AccessConstraints"), "NONE")
    provider = sub(root, _q(OWS, "ServiceProvider"))
    sub(provider, _q(OWS, "ProviderName"), "cdse-gateway")
    sub(provider, _q(OWS, "ServiceContact"))
    ops = sub(root, _q(OWS, "OperationsMetadata"))
    for name in OPERATIONS:
        operation = sub(ops, _q(OWS, "Operation"), name=name)
        http = sub(sub(operation, _q(OWS, "DCP")), _q(OWS, "HTTP"))
        sub(http, _q(OWS, "Get"), **{_q(XLINK, "href"): href + "?"})
        sub(http, _q(OWS, "Post"), **{_q(XLINK, "href"): href})
        if name in ("GetFeature", "GetPropertyValue"):
            _allowed(operation, "outputFormat", OUTPUT_FORMATS)
    _allowed(ops, "AcceptVersions", ("2.0.0",))
    for name in TRUE_CONSTRAINTS:
        _constraint(ops, OWS, name, "TRUE")
    for name in FALSE_CONSTRAINTS:
        _constraint(ops, OWS, name, "FALSE")
    _constraint(ops, OWS, "CountDefault", str(count_default))
    listing = sub(root, _q(WFS, "FeatureTypeList"))
    for name, title, bbox in types:
        ftype = sub(listing, _q(WFS, "FeatureType"))
        sub(ftype, _q(WFS, "Name"), f"{PREFIX}:{name}")
        sub(ftype, _q(WFS, "Title"), title)
        sub(ftype, _q(WFS, "DefaultCRS"), DEFAULT_CRS)
        for code in OTHER_CRS:
            sub(ftype, _q(WFS, "OtherCRS"), f"urn:ogc:def:crs:EPSG::{code}")
        formats = sub(ftype, _q(WFS, "OutputFormats"))
        for media_type in OUTPUT_FORMATS:
            sub(formats, _q(WFS, "Format"), media_type)
        if bbox is not None:
            box = sub(ftype, _q(OWS, "WGS84BoundingBox"))
            sub(box, _q(OWS, "LowerCorner"), f"{fmt(bbox[0])} {fmt(bbox[1])}")
            sub(box, _q(OWS, "UpperCorner"), f"{fmt(bbox[2])} {fmt(bbox[3])}")
    root.append(filter_capabilities())
    return root


def _allowed(parent: etree._Element, name: str, values: tuple[str, ...]) -> None:
    allowed = sub(sub(parent, _q(OWS, "Parameter"), name=name), _q(OWS, "AllowedValues"))
    for value in values:
        sub(allowed, _q(OWS, "Value"), value)


def filter_capabilities() -> etree._Element:
    """``fes:Filter_Capabilities`` of what ``filters.py`` reads."""
    root = etree.Element(_q(FES, "Filter_Capabilities"), nsmap=NSMAP)
    conformance = sub(root, _q(FES, "Conformance"))
    for name in FES_TRUE:
        _constraint(conformance, FES, name, "TRUE")
    for name in FES_FALSE:
        _constraint(conformance, FES, name, "FALSE")
    ids = sub(root, _q(FES, "Id_Capabilities"))
    sub(ids, _q(FES, "ResourceIdentifier"), name="fes:ResourceId")
    scalar = sub(root, _q(FES, "Scalar_Capabilities"))
    sub(scalar, _q(FES, "LogicalOperators"))
    comparisons = sub(scalar, _q(FES, "ComparisonOperators"))
    for name in COMPARISON_NAMES:
        sub(comparisons, _q(FES, "ComparisonOperator"), name=name)
    _operator_capabilities(
        root, "Spatial", "GeometryOperand", ("gml:Envelope", "gml:Polygon"), SPATIAL_NAMES
    )
    _operator_capabilities(
        root, "Temporal", "TemporalOperand", ("gml:TimePeriod", "gml:TimeInstant"), TEMPORAL_NAMES
    )
    return root


def _operator_capabilities(
    root: etree._Element,
    kind: str,
    operand_tag: str,
    operands: tuple[str, ...],
    operators: tuple[str, ...],
) -> None:
    """``fes:{kind}_Capabilities``: its operands, then its operators."""
    section = sub(root, _q(FES, f"{kind}_Capabilities"))
    listed = sub(section, _q(FES, f"{operand_tag}s"))
    for name in operands:
        sub(listed, _q(FES, operand_tag), name=name)
    listed = sub(section, _q(FES, f"{kind}Operators"))
    for name in operators:
        sub(listed, _q(FES, f"{kind}Operator"), name=name)


def feature_schema(names: list[str], gml_location: str) -> etree._Element:
    """The XSD of the feature types ``names`` (DescribeFeatureType)."""
    root = etree.Element(
        _q(XSD, "schema"),
        nsmap={"xsd": XSD, "gml": GML, PREFIX: NAMESPACE},
        targetNamespace=NAMESPACE,
        elementFormDefault="qualified",
        version="1.0",
    )
    sub(root, _q(XSD, "import"), namespace=GML, schemaLocation=gml_location)
    for name in names:
        ctype = sub(root, _q(XSD, "complexType"), name=f"{name}Type")
        ext = sub(sub(ctype, _q(XSD, "complexContent")), _q(XSD, "extension"))
        ext.set("base", "gml:AbstractFeatureType")
        seq = sub(ext, _q(XSD, "sequence"))
        for prop, (kind, _about) in PROPERTIES.items():
            sub(seq, _q(XSD, "element"), name=prop, type=f"xsd:{kind}", minOccurs="0")
        sub(seq, _q(XSD, "element"), name=GEOMETRY, type="gml:GeometryPropertyType", minOccurs="0")
        sub(
            root,
            _q(XSD, "element"),
            name=name,
            type=f"{PREFIX}:{name}Type",
            substitutionGroup="gml:AbstractFeature",
        )
    return root


def list_stored_queries(names: list[str]) -> etree._Element:
    root = etree.Element(_q(WFS, "ListStoredQueriesResponse"), nsmap=NSMAP)
    schema_location(root, (WFS, WFS_SCHEMA))
    query = sub(root, _q(WFS, "StoredQuery"), id=GET_FEATURE_BY_ID)
    sub(query, _q(WFS, "Title"), "Get feature by identifier")
    for name in names:
        sub(query, _q(WFS, "ReturnFeatureType"), f"{PREFIX}:{name}")
    return root


def describe_stored_queries(names: list[str]) -> etree._Element:
    root = etree.Element(_q(WFS, "DescribeStoredQueriesResponse"), nsmap=NSMAP)
    schema_location(root, (WFS, WFS_SCHEMA))
    desc = sub(root, _q(WFS, "StoredQueryDescription"), id=GET_FEATURE_BY_ID)
    sub(desc, _q(WFS, "Title"), "Get feature by identifier")
    sub(desc, _q(WFS, "Abstract"), "Returns the single feature whose gml:id is ID.")
    param = sub(desc, _q(WFS, "Parameter"), name="ID", type="xsd:string")
    sub(param, _q(WFS, "Title"), "Identifier")
    sub(
        desc,
        _q(WFS, "QueryExpressionText"),
        returnFeatureTypes=" ".join(f"{PREFIX}:{n}" for n in names),
        language="urn:ogc:def:queryLanguage:OGC-WFS::WFSQueryExpression",
        isPrivate="true",
    )
    return root
