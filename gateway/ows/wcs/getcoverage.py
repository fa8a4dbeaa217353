"""GetCoverage, protocol-neutral: one normalised coverage request -> engine -> encoded bytes.

Each WCS version parses its own KVP into a ``CoverageRequest``; this module turns it into the
engine's ``RenderRequest``. Index layers and at most ``limits.max_outputs`` bands go through
``engine.render`` (cached); more raw bands through ``engine.mosaic`` and the GeoTIFF encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.engine import Rendered
from gateway.core.render import MEDIA_TYPES, encode_geotiff
from gateway.core.request import RenderRequest, build_request, warning_header
from gateway.core.vendor_params import VendorTexts
from gateway.errors import InvalidParameterValue, LimitExceeded
from gateway.ows.wcs.coverages import Coverage, Field
from gateway.ows.wcs.netcdf import MEDIA_TYPE as NETCDF
from gateway.ows.wcs.netcdf import geotiff_to_netcdf
from gateway.runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class CoverageRequest(VendorTexts):
    """Everything a GetCoverage decides, whatever the WCS version (with the shared map
    parameters' texts)."""

    coverage: Coverage
    bbox: tuple[float, float, float, float]  # in ``crs``, x/y order
    crs: str
    width: int
    height: int
    fields: tuple[Field, ...]
    format: str = "tiff"  # tiff | cog | png | netcdf
    resampling: str | None = None


def _style(request: CoverageRequest, outputs: int) -> str | None:
    if request.format != "png" or request.evalscript:
        return None
    if request.coverage.layer and request.fields == request.coverage.fields:
        return None  # the layer's own style
    if outputs in (1, 3):
        return "greyscale" if outputs == 1 else "true_color"
    raise InvalidParameterValue("image/png needs one or three range fields", locator="format")


def engine_request(runtime: Runtime, request: CoverageRequest) -> RenderRequest:
    """The engine request of ``request``: EVALSCRIPT or EXPRESSION, when given, in place of
    the coverage's fields, as on every other door (validates sizes, time, cloud cover and the
    expression or script: its bands, its outputs and whether a PNG can show them)."""
    coverage = request.coverage
    if request.evalscript:  # the script's outputs over the coverage's collection
        expression, outputs = None, 0
    elif request.expression:
        expression = request.expression
        outputs = len([p for p in expression.split(";") if p.strip()])
    elif coverage.layer and request.fields == coverage.fields:
        expression, outputs = None, len(coverage.fields)
    else:
        fields = request.fields
        if len(fields) > runtime.config.limits.max_outputs:
            fields = fields[:1]  # validated here; engine.mosaic reads them all
        expression = ";".join(f.expression for f in fields)
        outputs = len(request.fields)
    render_request = build_request(
        runtime.config,
        bbox=request.bbox,
        crs=request.crs,
        width=request.width,
        height=request.height,
        layer=coverage.layer,
        collection=coverage.collection,
        style=_style(request, outputs),
        format="tiff" if request.format == "netcdf" else request.format,
        resampling=request.resampling,
        times=runtime.times,
        **{**request.request_args(), "expression": expression},
    )
    runtime.engine.check(render_request)
    return render_request


def get_coverage(runtime: Runtime, request: CoverageRequest) -> tuple[Rendered, str | None]:
    """Encoded coverage bytes on exactly the requested grid, and the HTTP ``Warning`` of how
    they were drawn (``gateway.core.request.warning_header``)."""
    render_request = engine_request(runtime, request)
    rendered = _encoded(runtime, request, render_request)
    warning = warning_header([render_request])
    if request.format != "netcdf":
        return rendered, warning
    content = geotiff_to_netcdf(rendered.content)
    return Rendered(content, NETCDF, cached=rendered.cached), warning


def _encoded(runtime: Runtime, request: CoverageRequest, render_request: RenderRequest) -> Rendered:
    engine = runtime.engine
    limits = runtime.config.limits
    fields = len(request.fields)
    many = not (request.expression or request.evalscript) and fields > limits.max_outputs
    if not many:
        return engine.render(render_request)
    if request.format == "png":
        raise InvalidParameterValue("image/png needs one or three range fields", locator="format")
    bands = tuple(f.expression for f in request.fields)
    if len(bands) * request.width * request.height > limits.max_outputs * limits.max_pixels:
        raise LimitExceeded(  # the memory budget of the largest expression request
            f"{len(bands)} bands of {request.width}x{request.height} exceed the size limit; "
            "ask for fewer bands (RANGESUBSET) or pixels",
            locator="size",
        )
    raster = engine.mosaic(render_request, bands)
    content = encode_geotiff(
        raster.data,
        raster.valid,
        crs=raster.grid.crs,
        transform=raster.grid.transform,
        cog=render_request.format == "cog",
        band_names=bands,
    )
    return Rendered(content, MEDIA_TYPES[render_request.format], cached=False)
