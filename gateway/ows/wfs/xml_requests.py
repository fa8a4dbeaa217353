"""WFS 2.0 requests in XML (POST bodies) read into the KVP that GET requests carry.

One code path answers both encodings: ``wfs:GetFeature`` with a ``wfs:Query`` (typeNames,
srsName, PropertyName, fes:Filter, fes:SortBy) or a ``wfs:StoredQuery`` becomes TYPENAMES,
SRSNAME, PROPERTYNAME, FILTER, SORTBY or STOREDQUERY_ID and its parameters, and the
request's count/startIndex/resultType/outputFormat attributes their KVP namesakes. Several
``wfs:Query`` elements are taken together when they differ in typeNames only. Elements are
matched by local name (OWSLib sends an unqualified ``PropertyName``), attribute names without
regard to case (it sends ``outputformat``). Bad XML, a DOCTYPE, a root that is not a WFS 2.0
request or an unexpected element is OperationParsingFailed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from gateway.errors import GatewayError
from gateway.ows.kvp import Kvp
from gateway.ows.wfs.documents import WFS
from gateway.ows.wfs.filters import children, local_name, parse_xml, parsing_failed

Pairs = list[tuple[str, str]]
STANDARD_REQUESTS = frozenset({
    "GetCapabilities", "DescribeFeatureType", "GetFeature", "GetPropertyValue",
    "ListStoredQueries", "DescribeStoredQueries", "GetFeatureWithLock", "LockFeature",
    "Transaction", "CreateStoredQuery", "DropStoredQuery",
})  # fmt: skip
MAX_BODY = 1 << 20  # bytes of one XML request
_PAGING = ("count", "startIndex", "resultType", "outputFormat", "maxFeatures")


def looks_like_xml(body: bytes) -> bool:
    """An XML document (whatever Content-Type the client sent: curl -d says form)."""
    return body.lstrip()[:1] == b"<"


def _attributes(element: etree._Element) -> dict[str, str]:
    """Attributes by lower-case local name."""
    return {etree.QName(k).localname.lower(): v.strip() for k, v in element.attrib.items()}


def _unexpected(element: etree._Element, parent: str) -> GatewayError:
    return parsing_failed(f"unexpected element {local_name(element)[:40]!r} in {parent}", "request")


def _copy(attrs: dict[str, str], names: tuple[str, ...]) -> Pairs:
    return [(n.upper(), attrs[n.lower()]) for n in names if attrs.get(n.lower())]


def _texts(element: etree._Element, wanted: str) -> list[str]:
    """Texts of the ``wanted`` children; any other child is an error."""
    texts = []
    for kid in children(element):
        if local_name(kid) != wanted:
            raise _unexpected(kid, local_name(element))
        texts.append((kid.text or "").strip())
    return texts


def _get_capabilities(root: etree._Element) -> Pairs:
    versions = []
    for kid in children(root):
        if local_name(kid) == "AcceptVersions":
            versions += _texts(kid, "Version")
        elif local_name(kid) not in ("Sections", "AcceptFormats", "AcceptLanguages"):
            raise _unexpected(kid, "GetCapabilities")
    return [("ACCEPTVERSIONS", ",".join(versions))] if versions else []


def _describe_feature_type(root: etree._Element) -> Pairs:
    names = _texts(root, "TypeName")
    return [("TYPENAMES", ",".join(names))] if names else []


def _list_stored_queries(root: etree._Element) -> Pairs:
    for kid in children(root):
        raise _unexpected(kid, "ListStoredQueries")
    return []


def _describe_stored_queries(root: etree._Element) -> Pairs:
    ids = _texts(root, "StoredQueryId")
    return [("STOREDQUERY_ID", ",".join(ids))] if ids else []


def _sort_by(element: etree._Element) -> str:
    """fes:SortBy -> ``prop [ASC|DESC],...`` (the KVP SORTBY)."""
    keys = []
    for prop in children(element):
        if local_name(prop) != "SortProperty":
            raise _unexpected(prop, "SortBy")
        parts: dict[str, list[str]] = {"ValueReference": [], "PropertyName": [], "SortOrder": []}
        for kid in children(prop):
            if local_name(kid) not in parts:
                raise _unexpected(kid, "SortProperty")
            parts[local_name(kid)].append((kid.text or "").strip())
        reference = parts["ValueReference"] + parts["PropertyName"]
        if len(reference) != 1:
            raise parsing_failed("a SortProperty needs one ValueReference", "request")
        keys.append(" ".join([reference[0], *parts["SortOrder"]]))
    return ",".join(keys)


def _query(element: etree._Element) -> Pairs:
    attrs = _attributes(element)
    names = [n for n in re.split(r"[\s,]+", attrs.get("typenames", "")) if n]
    pairs: Pairs = [("TYPENAMES", ",".join(names))] if names else []
    pairs += _copy(attrs, ("srsName",))
    properties: list[str] = []
    for kid in children(element):
        name = local_name(kid)
        if name == "PropertyName":
            properties.append((kid.text or "").strip())
        elif name == "Filter":
            pairs.append(("FILTER", etree.tostring(kid, encoding="unicode")))
        elif name == "SortBy":
            pairs.append(("SORTBY", _sort_by(kid)))
        else:
            raise _unexpected(kid, "Query")
    if properties:
        pairs.append(("PROPERTYNAME", ",".join(properties)))
    return pairs


def _stored_query(element: etree._Element) -> Pairs:
    pairs: Pairs = [("STOREDQUERY_ID", _attributes(element).get("id", ""))]
    for kid in children(element):
        if local_name(kid) != "Parameter" or not kid.get("name"):
            raise _unexpected(kid, "StoredQuery")
        pairs.append((kid.get("name", ""), "".join(kid.itertext()).strip()))
    return pairs


def _queries(root: etree._Element) -> Pairs:
    """The one query of a GetFeature / GetPropertyValue (several differing in typeNames only)."""
    queries, stored = [], []
    for kid in children(root):
        if local_name(kid) == "Query":
            queries.append(_query(kid))
        elif local_name(kid) == "StoredQuery":
            stored.append(_stored_query(kid))
        else:
            raise _unexpected(kid, local_name(root))
    if stored and (queries or len(stored) > 1):
        raise GatewayError(
            "one stored query per request", locator="StoredQuery", code="OperationNotSupported"
        )
    if stored:
        return stored[0]
    rest = [[p for p in q if p[0] != "TYPENAMES"] for q in queries]
    if any(r != rest[0] for r in rest):
        raise GatewayError(
            "queries that differ in more than typeNames are not supported",
            locator="Query",
            code="OperationNotSupported",
        )
    names = [p[1] for q in queries for p in q if p[0] == "TYPENAMES"]
    return ([("TYPENAMES", ",".join(names))] if names else []) + (rest[0] if rest else [])


def _get_feature(root: etree._Element) -> Pairs:
    return _copy(_attributes(root), _PAGING) + _queries(root)


def _get_property_value(root: etree._Element) -> Pairs:
    return _copy(_attributes(root), ("valueReference", *_PAGING)) + _queries(root)


_READERS: dict[str, Callable[[etree._Element], Pairs]] = {
    "GetCapabilities": _get_capabilities,
    "DescribeFeatureType": _describe_feature_type,
    "ListStoredQueries": _list_stored_queries,
    "DescribeStoredQueries": _describe_stored_queries,
    "GetFeature": _get_feature,
    "GetPropertyValue": _get_property_value,
}


def kvp_from_xml(body: bytes) -> Kvp:
    """The KVP of an XML-encoded WFS 2.0 request."""
    if len(body) > MAX_BODY:
        raise parsing_failed("the XML request is too large", "request")
    root = parse_xml(body, "the XML request", "request")
    name = etree.QName(root)
    if name.namespace != WFS or name.localname not in STANDARD_REQUESTS:
        raise parsing_failed(f"not a WFS 2.0 request: {name.localname[:40]!r}", "request")
    pairs: Pairs = [("REQUEST", name.localname)]
    pairs += _copy(_attributes(root), ("service", "version"))
    reader = _READERS.get(name.localname)
    if reader is not None:  # the others are answered OperationNotSupported
        pairs += reader(root)
    return Kvp(pairs)
