"""Styles: how band-math values become colours (a colour ramp, classes or an RGB stretch).

The configuration (``styles.yaml``) is validated into these models; ``core.render`` applies
them to pixels and ``ows.mapproxy.legend`` draws them.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from gateway.errors import InvalidParameterValue


def parse_color(text: str, *, locator: str = "color") -> tuple[int, int, int, int]:
    """``#rrggbb``, ``#rrggbbaa`` or WMS's ``0xRRGGBB`` -> (r, g, b, a); InvalidParameterValue."""
    value = text.strip()
    digits = value[1:] if value.startswith("#") else value[2:] if value[:2].lower() == "0x" else ""
    if len(digits) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise InvalidParameterValue(f"invalid colour {text[:20]!r}", locator=locator)
    channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    return (channels[0], channels[1], channels[2], channels[3] if len(channels) == 4 else 255)


class ColorStop(BaseModel):
    """A value and its colour (``#rrggbb`` or ``#rrggbbaa``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    color: str

    @field_validator("color")
    @classmethod
    def _check_color(cls, color: str) -> str:
        if not color.startswith("#"):
            raise ValueError(f"colour {color!r} must look like #rrggbb or #rrggbbaa")
        try:
            parse_color(color)
        except InvalidParameterValue as exc:
            raise ValueError(exc.message) from None
        return color.lower()

    @property
    def rgba(self) -> tuple[int, int, int, int]:
        return parse_color(self.color)


class Style(BaseModel):
    """How values become colours.

    - ``ramp``: one band; linear interpolation between ``stops``, clamped at both ends.
      ``min``/``max`` (optional) stretch data onto the first..last stop; ``gamma`` bends that
      stretch (``t ** (1 / gamma)``, > 1 brightens the low end).
    - ``rgb``: three bands (one is shown as grey); ``(v - min) / (max - min)`` clipped to 0..1,
      then ``** (1 / gamma)``, to 0..255.
    - ``classes``: one band; exact values -> colour, other values transparent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["ramp", "rgb", "classes"]
    stops: list[ColorStop] = []
    min: float | None = None
    max: float | None = None
    gamma: float = 1.0
    labels: dict[str, str] = {}
    title: str = ""

    @model_validator(mode="after")
    def _check(self) -> Style:
        if not (self.gamma > 0 and math.isfinite(self.gamma)):
            raise ValueError(f"style {self.name}: gamma must be a positive number")
        if (self.min is None) != (self.max is None) and self.kind == "ramp":
            raise ValueError(f"style {self.name}: give both min and max, or neither")
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"style {self.name}: min must be below max")
        values = [stop.value for stop in self.stops]
        increasing = all(a < b for a, b in itertools.pairwise(values))
        if self.kind == "ramp" and (len(values) < 2 or not increasing):
            raise ValueError(f"style {self.name}: a ramp needs 2+ stops in increasing order")
        if self.kind == "classes" and not (0 < len(set(values)) == len(values) < 256):
            raise ValueError(f"style {self.name}: classes need 1 to 255 distinct values")
        return self
