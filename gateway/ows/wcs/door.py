"""The WCS door: ``/wcs`` and ``/ows?SERVICE=WCS``; version negotiation and one error edge."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from gateway.doors import Door
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.exceptions import OWS_CODES, Dialect, error_response
from gateway.ows.kvp import Kvp, Received, negotiate_version, parse_kvp, split_list
from gateway.ows.wcs import v100, v111, v201
from gateway.ows.wcs.coverages import CoverageCatalog
from gateway.ows.wcs.getcoverage import get_coverage
from gateway.ows.wcs.kvp201 import coverage_request
from gateway.ows.wcs.service import OPERATIONS, VERSIONS, Endpoint
from gateway.ows.xml import xml_response
from gateway.runtime import Runtime

DIALECTS = {"2.0.1": Dialect.OWS20, "1.1.1": Dialect.OWS11, "1.0.0": Dialect.WCS10}
VERSION_MODULES = {"2.0.1": v201, "1.1.1": v111, "1.0.0": v100}
EXTENSIONS = {"tiff": "tif", "cog": "tif", "png": "png", "netcdf": "nc"}
# Engine codes that mean "no such coverage" to a WCS client (CoverageNotDefined in 1.0.0).
WCS_CODES = {**OWS_CODES, **dict.fromkeys(("NotFound", "LayerNotDefined"), "NoSuchCoverage")}
WCS10_CODES = {
    **WCS_CODES,
    **dict.fromkeys(("NotFound", "LayerNotDefined", "NoSuchCoverage"), "CoverageNotDefined"),
}
CODES = {"2.0.1": WCS_CODES, "1.1.1": WCS_CODES, "1.0.0": WCS10_CODES}


class WcsService:
    """Answers one WCS KVP request (synchronously; the door runs it in a thread)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.coverages = CoverageCatalog(runtime.config, runtime.summaries)

    def answer(self, received: Received, endpoint: Endpoint) -> Response:
        """The answer to a request as received (parsed here, in the worker thread)."""
        try:
            kvp = parse_kvp(received)
        except GatewayError as error:
            return error_response(error, Dialect.OWS20, version="2.0.1", codes=WCS_CODES)
        return self.handle(kvp, endpoint)

    def handle(self, kvp: Kvp, endpoint: Endpoint) -> Response:
        version = "2.0.1"
        try:
            operation = kvp.require("REQUEST")
            if operation.lower() == "getcapabilities":
                version = negotiate_version(kvp, VERSIONS, VERSIONS[0])
            else:
                version = kvp.text("VERSION") or ""
                if version not in VERSIONS:
                    version = "2.0.1"
                    kvp.require("VERSION")
                    raise InvalidParameterValue(
                        f"unsupported version; use one of {', '.join(VERSIONS)}", locator="version"
                    )
            service = kvp.text("SERVICE")
            if service is not None and service.upper() != "WCS":
                raise InvalidParameterValue("SERVICE must be WCS", locator="service")
            handler = self._handler(operation)
            return handler(kvp, version, endpoint)
        except Exception as error:  # rendered once, here
            return error_response(error, DIALECTS[version], version=version, codes=CODES[version])

    def _handler(self, operation: str) -> Callable[[Kvp, str, Endpoint], Response]:
        for name in OPERATIONS:
            if name.lower() == operation.lower():
                return getattr(self, name.lower())
        raise GatewayError(
            f"unknown operation {operation[:40]!r}", locator="request", code="OperationNotSupported"
        )

    def getcapabilities(self, kvp: Kvp, version: str, endpoint: Endpoint) -> Response:
        module = VERSION_MODULES[version]
        return xml_response(module.capabilities(self.coverages.all(), endpoint))

    def describecoverage(self, kvp: Kvp, version: str, endpoint: Endpoint) -> Response:
        module = VERSION_MODULES[version]
        key = {"2.0.1": "COVERAGEID", "1.1.1": "IDENTIFIERS", "1.0.0": "COVERAGE"}[version]
        names = split_list(kvp.require(key))
        coverages = [self.coverages.get(name) for name in names]
        if version == "2.0.1":  # vendor: TIME (the 2-D coverage of a period), TIMEAXIS=cube
            cube = (kvp.text("TIMEAXIS") or "").lower() == "cube"
            return xml_response(v201.describe(coverages, kvp.text("TIME"), cube=cube))
        return xml_response(module.describe(coverages))

    def getcoverage(self, kvp: Kvp, version: str, endpoint: Endpoint) -> Response:
        key = {"2.0.1": "COVERAGEID", "1.1.1": "IDENTIFIER", "1.0.0": "COVERAGE"}[version]
        coverage = self.coverages.get(kvp.require(key))
        assert coverage is not None
        if version == "2.0.1":
            request = coverage_request(kvp, coverage)
        else:
            request = VERSION_MODULES[version].coverage_request(kvp, coverage)
        rendered = get_coverage(self.runtime, request)
        media_type = rendered.media_type.split(";")[0]
        filename = f"{coverage.id}.{EXTENSIONS[request.format]}"
        if version == "1.1.1":
            return v111.coverage_response(coverage, rendered.content, media_type, filename)
        return Response(
            rendered.content,
            media_type=media_type,
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )


def _endpoint(request: Request) -> Endpoint:
    url = request.url
    root = request.scope.get("root_path", "").removesuffix("/ows")
    return Endpoint(f"{url.scheme}://{url.netloc}{root}/wcs")


def build_door(runtime: Runtime) -> Door:
    """The WCS door: ``GET /wcs`` and ``SERVICE=WCS`` on ``/ows``."""
    service = WcsService(runtime)

    async def endpoint(request: Request) -> Response:
        received = await Received.read(request)
        return await run_in_threadpool(service.answer, received, _endpoint(request))

    def reject(error: GatewayError, scope: Scope) -> Response:
        """An error of the HTTP edge as a WCS exception report (2.0.1's unless VERSION says)."""
        version = Kvp.of_scope(scope).text("VERSION")
        version = version if version in DIALECTS else "2.0.1"
        return error_response(error, DIALECTS[version], version=version, codes=CODES[version])

    route = Route("/wcs", endpoint, methods=["GET", "POST"])
    return Door(
        routes=[route], ows_services={"WCS": route}, ows_path={"WCS": "/wcs"}, reject=reject
    )
