"""pygeoapi's OpenAPI document made usable without the network (for schemathesis)."""

from __future__ import annotations

import re
from typing import Any


def _offline(node: Any, in_responses: bool = False) -> Any:
    """The document with its references to schemas.opengis.net (unreachable from CI)
    replaced: such parameters dropped, responses and schemas left open."""
    if isinstance(node, list):
        return [
            _offline(v, in_responses)
            for v in node
            if not (isinstance(v, dict) and str(v.get("$ref", "")).startswith("http"))
        ]
    if not isinstance(node, dict):
        return node
    if str(node.get("$ref", "")).startswith("http"):
        return {"description": "external"} if in_responses else {}
    return {k: _offline(v, in_responses or k == "responses") for k, v in node.items()}


def _declare_path_parameters(document: dict) -> dict:
    """Path parameters whose (external) definitions were dropped, declared as strings."""
    for path, item in document["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            params = operation.setdefault("parameters", [])
            known = {p.get("name") for p in params if isinstance(p, dict)}
            for name in re.findall(r"{(\w+)}", path):
                if name not in known:
                    params.append(
                        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    )
    return document


def offline_openapi(document: dict) -> dict:
    """The OpenAPI document with no reference outside itself; every path parameter declared."""
    return _declare_path_parameters(_offline(document))
