"""Sentinel Hub style request parameters shared by the WMS and WMTS doors.

``TIME``, ``MAXCC``, ``PRIORITY``, ``EXPRESSION``, ``EVALSCRIPT``, ``STYLES`` and ``PREVIEW``
travel with every map or tile request; this module reads them (case-insensitively) and turns
them, with the area and size a protocol gives, into the engine's ``RenderRequest``. Errors stay
``gateway.errors`` with the locator of the parameter at fault; each door maps them to its own
exception codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.core.request import RenderRequest, build_request
from gateway.core.vendor_params import VendorTexts, read_vendor_texts
from gateway.errors import InvalidParameterValue, MissingParameterValue
from gateway.runtime import Runtime

# Style names that mean "the layer's own style".
DEFAULT_STYLES = frozenset({"", "default", "inspire_common:default"})


def require(params: Mapping[str, str], name: str) -> str:
    """The value of a mandatory parameter, or MissingParameterValue."""
    value = params.get(name)
    if value is None or value.strip() == "":
        raise MissingParameterValue(f"missing parameter {name}", locator=name.lower())
    return value


@dataclass(frozen=True, kw_only=True)
class RenderParams(VendorTexts):
    """What a map or tile request adds to a layer: the shared map parameters and a style."""

    style: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RenderParams:
        """Read TIME, MAXCC, PRIORITY, EXPRESSION, STYLE(S), PREVIEW, EVALSCRIPT, GEOMETRY,
        UPSAMPLING and DOWNSAMPLING from upper-case keys."""
        style = params.get("STYLES", params.get("STYLE"))
        first_style = (style or "").split(",")[0].strip()

        def value(name: str) -> str | None:
            text = params.get(name)
            return text.strip() if text and text.strip() else None

        return cls(
            **read_vendor_texts(value),
            style=None if first_style.lower() in DEFAULT_STYLES else first_style,
        )

    def request(
        self,
        runtime: Runtime,
        *,
        layer: str,
        bbox: tuple[float, float, float, float],
        crs: str,
        size: tuple[int, int],
        format: str = "png",
    ) -> RenderRequest:
        """The engine request for ``layer`` on this area (validates every parameter; TIME
        means what it means in every door: ``runtime.times``)."""
        return build_request(
            runtime.config,
            layer=layer,
            bbox=bbox,
            crs=crs,
            width=size[0],
            height=size[1],
            format=format,
            style=self.style,
            times=runtime.times,
            **self.request_args(),
        )


def parse_int(params: Mapping[str, str], name: str) -> int:
    """A mandatory non-negative integer parameter."""
    text = require(params, name).strip()
    if not text.isdigit() or len(text) > 9:
        raise InvalidParameterValue(f"{name} must be a non-negative integer", locator=name.lower())
    return int(text)
