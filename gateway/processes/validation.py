"""Process inputs checked against the process description before anything is planned.

Every input must be declared by the process; each value must match its JSON Schema and hold
finite numbers only (Python's JSON reader takes ``NaN``, ``Infinity`` and ``1e309``). A
``null`` value counts as not given. Errors name the input (``locator``) in their message.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from gateway.errors import InvalidParameterValue, MissingParameterValue

_TYPES = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
}

_COUNTS = {
    "minItems": ("at least", "items"),
    "maxItems": ("at most", "items"),
    "minLength": ("at least", "characters"),
    "maxLength": ("at most", "characters"),
}


def validate_inputs(description: dict[str, Any], data: Any) -> dict[str, Any]:
    """The given inputs of ``data`` (a JSON object), checked against ``description``."""
    if not isinstance(data, dict):
        raise InvalidParameterValue("inputs must be an object of input values", locator="inputs")
    declared: dict[str, Any] = description["inputs"]
    inputs = {name: value for name, value in data.items() if value is not None}
    for name in inputs:
        if name not in declared:
            raise InvalidParameterValue(
                f"unknown input {name[:40]!r}: {description['id']} takes {', '.join(declared)}",
                locator=name[:40],
            )
    for name, spec in declared.items():
        if spec.get("minOccurs", 1) > 0 and name not in inputs:
            raise MissingParameterValue(f"the input {name} is required", locator=name)
    for name, value in inputs.items():
        for where, number in _numbers(name, value):
            if not math.isfinite(number):
                raise InvalidParameterValue(f"{where} must be a finite number", locator=name)
        schema = Draft202012Validator(declared[name]["schema"])
        error = best_match(schema.iter_errors(value))
        if error is not None:
            raise InvalidParameterValue(_message(name, error, declared[name]), locator=name)
    return inputs


def _numbers(where: str, value: Any) -> Iterator[tuple[str, float]]:
    """Every number inside ``value`` as a float (inf when too large for one), with its path."""
    pending = [(where, value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, float):
            yield path, item
        elif isinstance(item, int):
            yield path, float(item) if abs(item) < 2**1023 else math.inf
        elif isinstance(item, list):
            pending.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, dict):
            pending.extend((f"{path}.{k}", v) for k, v in item.items())


def _message(name: str, error: ValidationError, spec: dict[str, Any]) -> str:
    """A short message naming the value at fault (never echoing it)."""
    where = name + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    rule, bound = error.validator, error.validator_value
    if rule == "type" and "enum" in error.schema:
        rule, bound = "enum", error.schema["enum"]
    if rule == "type":
        kinds = [bound] if isinstance(bound, str) else list(bound)
        return f"{where} must be {' or '.join(_TYPES.get(k, k) for k in kinds)}"
    if rule == "enum":
        return f"{where} must be one of {', '.join(map(str, bound))}"
    if rule == "minimum":
        return f"{where} must be at least {bound:g}"
    if rule == "maximum":
        return f"{where} must be at most {bound:g}"
    if rule in _COUNTS:
        how, what = _COUNTS[rule]
        return f"{where} must have {how} {bound} {what}"
    if rule == "additionalProperties":
        return f"{where} takes only {', '.join(error.schema.get('properties', {}))}"
    if rule == "pattern":
        return f"{where} must be {spec.get('description', 'of the documented form')}"
    if rule == "required":
        return f"{where} needs {', '.join(repr(r) for r in bound)}"
    return f"{where} is not valid ({rule})"
