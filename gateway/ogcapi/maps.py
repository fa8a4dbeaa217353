"""OGC API Maps provider: a layer's picture for bbox/width/height/crs/datetime."""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import BaseProvider

from gateway.context import current
from gateway.core.request import build_request
from gateway.core.sar import parse_sar_options, sar_texts
from gateway.ogcapi.errors import gateway_errors
from gateway.registry import BuiltOnce, runtime_for

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def crs_code(uri: str) -> str:
    """An OGC CRS URI as the gateway's CRS text (``EPSG:3857``, ``CRS:84``)."""
    text = str(uri)
    if text.rstrip("/").endswith("CRS84"):
        return "CRS:84"
    if "/EPSG/" in text:
        return "EPSG:" + text.rstrip("/").rsplit("/", 1)[-1]
    return text


class EngineMapProvider(BaseProvider, metaclass=BuiltOnce):
    """``data`` is a layer name; ``style`` picks one of the gateway's styles."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.runtime = runtime_for(provider_def)
        self.time_field = "datetime"

    def get_fields(self) -> dict[str, Any]:
        return {}

    @gateway_errors
    def query(
        self,
        style: str | None = None,
        bbox: list[float] | None = None,
        width: int = 500,
        height: int = 300,
        crs: str = CRS84,
        datetime_: str | None = None,
        transparent: bool = True,
        format_: str = "png",
        **kwargs: Any,
    ) -> bytes:
        runtime = self.runtime
        request = build_request(
            runtime.config,
            bbox=tuple(float(v) for v in bbox or ()),  # type: ignore[arg-type]
            crs=crs_code(crs),
            width=int(width),
            height=int(height),
            layer=str(self.data),
            style=style,
            format=format_ or "png",
            time=datetime_,
            maxcc=current().param("maxcc"),
            order=current().param("order"),
            resampling=current().param("resampling"),
            times=self.runtime.times,
            preview=current().param("preview"),
            sar=parse_sar_options(*sar_texts(current().param)),
            evalscript=current().param("evalscript"),
        )
        return runtime.engine.render(request).content
