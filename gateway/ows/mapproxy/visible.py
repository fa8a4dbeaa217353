"""WMS and WMTS capabilities listing only the layers the caller may use.

MapProxy writes one document for everyone (its configuration is the app's); for a caller
whose grant names collections or layers, the door removes every ``Layer`` whose name
(``Name``, WMTS ``ows:Identifier``) is a layer or collection the grant does not allow.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from gateway.access.callers import current_caller
from gateway.access.visible import allows, restricted
from gateway.config import GatewayConfig

NAMES = ("Name", "Identifier")
# Capabilities come from MapProxy: no entities, no DTD or other file loaded.
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def _name(layer: etree._Element) -> str | None:
    for child in layer:
        if isinstance(child.tag, str) and etree.QName(child).localname in NAMES:
            return (child.text or "").strip()
    return None


def visible_layers(
    config: GatewayConfig, rewrite: Callable[[bytes], bytes] | None = None
) -> Callable[[bytes], bytes] | None:
    """``rewrite`` followed by the removal of the layers the current caller may not use
    (``rewrite`` itself when it may use all)."""
    if not restricted():
        return rewrite
    grant = current_caller().grant  # read now: the body is rewritten later

    def shown(document: bytes) -> bytes:
        if rewrite is not None:
            document = rewrite(document)
        tree = etree.fromstring(document, _PARSER).getroottree()
        for layer in list(tree.iter("{*}Layer", "Layer")):
            name = _name(layer)
            parent = layer.getparent()
            if name and parent is not None and not allows(grant, config, name):
                parent.remove(layer)
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")

    return shown
