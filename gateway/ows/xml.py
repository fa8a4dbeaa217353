"""Small lxml helpers shared by the WCS and WFS documents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lxml import etree
from starlette.responses import Response

XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def qname(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def sub(parent: etree._Element, tag: str, text: object = None, **attrib: str) -> etree._Element:
    """Append ``tag`` (Clark notation) with optional text and attributes; return it."""
    element = etree.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        element.text = str(text)
    return element


def xml_response(root: etree._Element, media_type: str = "application/xml") -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, media_type=media_type)


_MARK = b"<!--chunk-->"


def xml_chunked(root: etree._Element, children: Iterable[etree._Element]) -> bytes | memoryview:
    """``root`` with ``children`` appended, as ``xml_response`` writes it byte for byte, but
    one child in the tree at a time: a page of 10,000 features never is one tree."""
    root.append(etree.Comment("chunk"))
    head, tail = etree.tostring(root, xml_declaration=True, encoding="UTF-8").split(_MARK)
    root.remove(root[-1])
    out = bytearray(head)
    for child in children:
        root.append(child)
        whole = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        out += whole[len(head) : len(whole) - len(tail)]
        root.remove(child)
    if len(out) == len(head):  # no child: ``<root/>``, as ``tostring`` writes it
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    out += tail
    return memoryview(out)


def iso(moment: datetime) -> str:
    """An aware UTC datetime as ``YYYY-MM-DDThh:mm:ss.sssZ``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def fmt(value: float) -> str:
    """A coordinate without float noise."""
    return f"{value:.10g}"
