"""The parameters every map door reads beside its own (TIME, MAXCC, PRIORITY, EXPRESSION,
PREVIEW, EVALSCRIPT, Sentinel-1's and Sentinel Hub's), kept as the client wrote them: read in
one place, parsed in one place (``build_request``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from gateway.core.sar import SarTexts, parse_sar_options, sar_texts
from gateway.core.shparams import NO_SH_TEXTS, ShTexts, sh_texts

Value = Callable[[str], "str | None"]  # a door's parameter by upper-case name; None if absent


@dataclass(frozen=True, kw_only=True)
class VendorTexts:
    """The texts of the shared map parameters (hashable: part of a tile's key)."""

    time: str | None = None
    maxcc: str | None = None
    priority: str | None = None
    expression: str | None = None
    preview: str | None = None  # Sentinel Hub's PREVIEW: gateway.core.preview
    evalscript: str | None = None  # base64 or the script's text: gateway.evalscript.param
    sar: SarTexts = (None, None, None)  # BACKCOEFF, NOISEREMOVAL, ORBITDIRECTION
    sh: ShTexts = NO_SH_TEXTS  # GEOMETRY ... WARNINGS: gateway.core.shparams

    def vendor_texts(self) -> dict[str, Any]:
        """These texts as keyword arguments (to build another ``VendorTexts`` from them)."""
        return {f.name: getattr(self, f.name) for f in fields(VendorTexts)}

    def request_args(self) -> dict[str, Any]:
        """These texts as ``build_request``'s keyword arguments (which parse and bound them)."""
        geometry, upsampling, downsampling, quality, warnings = self.sh
        return {
            "time": self.time,
            "maxcc": self.maxcc,
            "order": self.priority,
            "expression": self.expression,
            "preview": self.preview,
            "evalscript": self.evalscript,
            "sar": parse_sar_options(*self.sar),
            "geometry": geometry,
            "upsampling": upsampling,
            "downsampling": downsampling,
            "quality": quality,
            "warnings": warnings,
        }


def read_vendor_texts(value: Value, *, time: str | None = None) -> dict[str, Any]:
    """The shared parameters as a door's ``value`` reads them, as keyword arguments of a
    ``VendorTexts`` (or of a class extending it); ``time`` in place of TIME where the door
    has its own (WCS 1.1.1's TIMESEQUENCE, WCS 2.0.1's time subset)."""
    return {
        "time": time if time is not None else value("TIME"),
        "maxcc": value("MAXCC"),
        "priority": value("PRIORITY"),
        "expression": value("EXPRESSION"),
        "preview": value("PREVIEW"),
        "evalscript": value("EVALSCRIPT"),
        "sar": sar_texts(value),
        "sh": sh_texts(value),
    }
