"""OGC API Coverages provider: a collection's bands or a layer's values, GeoTIFF or CoverageJSON."""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import BaseProvider

from gateway.context import current
from gateway.core.request import build_request
from gateway.core.sar import parse_sar_options, sar_texts
from gateway.errors import LimitExceeded
from gateway.ogcapi.coveragejson import to_coveragejson
from gateway.ogcapi.crs import lonlat_bbox
from gateway.ogcapi.errors import gateway_errors
from gateway.ogcapi.scaling import native_size, output_size, subset_bbox
from gateway.ogcapi.sources import resolve_source
from gateway.registry import BuiltOnce, runtime_for

MAX_JSON_CELLS = 512 * 512  # CoverageJSON is text: larger grids must use GeoTIFF


class EngineCoverageProvider(BaseProvider, metaclass=BuiltOnce):
    """``data`` is a layer name or a catalog collection id; ``options`` carries its extent.

    Built once per app (``BuiltOnce``), when the door is created.
    """

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.runtime = runtime_for(provider_def)
        self.source = resolve_source(self.runtime.config, str(self.data))
        options = provider_def.get("options") or {}
        self.extent = tuple(options["bbox"])
        self.interval = options.get("interval")
        self.native_format = provider_def["format"]["name"]
        self.axes = ["Lon", "Lat"]
        self.crs = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        width, height = native_size(self.extent)  # type: ignore[arg-type]
        self._coverage_properties = {
            "width": width,
            "height": height,
            "resx": (self.extent[2] - self.extent[0]) / width,
            "resy": (self.extent[3] - self.extent[1]) / height,
        }
        if self.interval:
            self._coverage_properties["time_range"] = list(self.interval)

    def get_fields(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"title": name, "type": "number", "x-ogc-unit": "1"}
            for name in self.source.fields
        }

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        return self.get_fields()

    @gateway_errors
    def query(
        self,
        properties: list[str] | None = None,
        subsets: dict[str, list[float]] | None = None,
        bbox: list[float] | None = None,
        bbox_crs: str | None = None,
        datetime_: str | None = None,
        format_: str = "json",
        **kwargs: Any,
    ) -> dict[str, Any] | bytes:
        runtime = self.runtime
        limits = runtime.config.limits
        if bbox and bbox_crs:
            bbox = lonlat_bbox(bbox, bbox_crs)
        area = subset_bbox(bbox, subsets, self.extent)  # type: ignore[arg-type]
        params = {
            name: current().param(name)
            for name in ("scale-size", "scale-factor", "scale-axes", "width", "height")
        }
        width, height = output_size(area, params, limits)
        source = self.source
        chosen = properties or list(source.fields[: limits.max_outputs])
        evalscript = current().param("evalscript")  # every output, in place of the fields
        request = build_request(
            runtime.config,
            bbox=area,
            crs="EPSG:4326",
            width=width,
            height=height,
            layer=source.layer,
            collection=source.collection,
            expression=source.expression_for(chosen),
            style="greyscale" if len(chosen) != 3 else "true_color",
            format="tiff" if format_ == self.native_format or evalscript else "png",
            time=datetime_ or current().param("datetime"),
            maxcc=current().param("maxcc"),
            order=current().param("order"),
            resampling=current().param("resampling"),
            times=self.runtime.times,
            preview=current().param("preview"),
            sar=parse_sar_options(*sar_texts(current().param)),
            evalscript=evalscript,
        )
        if format_ == self.native_format:
            return runtime.engine.render(request).content
        if width * height > MAX_JSON_CELLS:
            raise LimitExceeded(
                f"CoverageJSON is limited to {MAX_JSON_CELLS} cells: use scale-size or f=GTiff",
                locator="size",
            )
        raster = runtime.engine.compute(request)
        if request.script is None:
            raster.band_names = tuple(chosen)
        return to_coveragejson(raster)
