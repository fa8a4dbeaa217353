"""The WCS door: ``/wcs`` and ``/ows?SERVICE=WCS``; one operation table per version.

What differs between WCS 2.0.1, 1.1.1 and 1.0.0 is each one's ``WcsVersion``: documents,
parameter names, GetCoverage parsing and answer, exception dialect. The checks every
request goes through first and the error edge are the OWS service base's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from gateway.doors import Door
from gateway.ows.exceptions import OWS_CODES, Dialect
from gateway.ows.kvp import Kvp, split_list
from gateway.ows.service import Operation, OwsService, service_url
from gateway.ows.wcs import kvp201, v100, v111, v201
from gateway.ows.wcs.coverages import Coverage, CoverageCatalog
from gateway.ows.wcs.getcoverage import CoverageRequest, get_coverage
from gateway.ows.wcs.service import VERSIONS, Endpoint
from gateway.ows.xml import xml_response
from gateway.runtime import Runtime

EXTENSIONS = {"tiff": "tif", "cog": "tif", "png": "png", "netcdf": "nc"}
# Engine codes that mean "no such coverage" to a WCS client (CoverageNotDefined in 1.0.0).
WCS_CODES = {**OWS_CODES, **dict.fromkeys(("NotFound", "LayerNotDefined"), "NoSuchCoverage")}
WCS10_CODES = {
    **WCS_CODES,
    **dict.fromkeys(("NotFound", "LayerNotDefined", "NoSuchCoverage"), "CoverageNotDefined"),
}


def _inline(coverage: Coverage, content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _describe201(kvp: Kvp, coverages: list[Coverage]) -> etree._Element:
    """Vendor: TIME (the 2-D coverage of a period), TIMEAXIS=cube (the space-time cube)."""
    cube = (kvp.text("TIMEAXIS") or "").lower() == "cube"
    return v201.describe(coverages, kvp.text("TIME"), cube=cube)


@dataclass(frozen=True)
class WcsVersion:
    """One WCS version: its documents, parameter names, GetCoverage and exception dialect."""

    dialect: Dialect
    codes: Mapping[str, str]
    capabilities: Callable[[list[Coverage], Endpoint], etree._Element]
    describe: Callable[[Kvp, list[Coverage]], etree._Element]
    identifiers: str  # DescribeCoverage's list of coverages
    identifier: str  # GetCoverage's coverage
    coverage_request: Callable[[Kvp, Coverage], CoverageRequest]
    respond: Callable[[Coverage, bytes, str, str], Response]  # coverage, bytes, type, filename


WCS_VERSIONS = {
    "2.0.1": WcsVersion(
        Dialect.OWS20,
        WCS_CODES,
        v201.capabilities,
        _describe201,
        "COVERAGEID",
        "COVERAGEID",
        kvp201.coverage_request,
        _inline,
    ),
    "1.1.1": WcsVersion(
        Dialect.OWS11,
        WCS_CODES,
        v111.capabilities,
        lambda kvp, coverages: v111.describe(coverages),
        "IDENTIFIERS",
        "IDENTIFIER",
        v111.coverage_request,
        v111.coverage_response,
    ),
    "1.0.0": WcsVersion(
        Dialect.WCS10,
        WCS10_CODES,
        v100.capabilities,
        lambda kvp, coverages: v100.describe(coverages),
        "COVERAGE",
        "COVERAGE",
        v100.coverage_request,
        _inline,
    ),
}


class WcsService(OwsService[Endpoint]):
    """Answers one WCS KVP request (synchronously; the door runs it in a thread)."""

    SERVICE = "WCS"
    VERSIONS = VERSIONS
    DIALECTS: ClassVar[Mapping[str, tuple[Dialect, Mapping[str, str]]]] = {
        name: (version.dialect, version.codes) for name, version in WCS_VERSIONS.items()
    }

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.coverages = CoverageCatalog(runtime.config, runtime.summaries)
        super().__init__()

    def operations(self, version: str) -> Mapping[str, Operation[Endpoint]]:
        profile = WCS_VERSIONS[version]
        return {
            "GetCapabilities": partial(self.getcapabilities, profile),
            "DescribeCoverage": partial(self.describecoverage, profile),
            "GetCoverage": partial(self.getcoverage, profile),
        }

    def coverage(self, coverage_id: str) -> Coverage:
        """The coverage ``coverage_id`` (NoSuchCoverage when unknown)."""
        found = self.coverages.get(coverage_id)
        assert found is not None
        return found

    def getcapabilities(self, version: WcsVersion, kvp: Kvp, endpoint: Endpoint) -> Response:
        return xml_response(version.capabilities(self.coverages.all(), endpoint))

    def describecoverage(self, version: WcsVersion, kvp: Kvp, endpoint: Endpoint) -> Response:
        names = split_list(kvp.require(version.identifiers))
        return xml_response(version.describe(kvp, [self.coverage(name) for name in names]))

    def getcoverage(self, version: WcsVersion, kvp: Kvp, endpoint: Endpoint) -> Response:
        coverage = self.coverage(kvp.require(version.identifier))
        request = version.coverage_request(kvp, coverage)
        rendered, warning = get_coverage(self.runtime, request)
        filename = f"{coverage.id}.{EXTENSIONS[request.format]}"
        response = version.respond(
            coverage, rendered.content, rendered.media_type.split(";")[0], filename
        )
        if warning:
            response.headers["Warning"] = warning
        return response


def _endpoint(request: Request) -> Endpoint:
    return Endpoint(service_url(request, "/wcs"))


def build_door(runtime: Runtime) -> Door:
    """The WCS door: ``GET /wcs`` and ``SERVICE=WCS`` on ``/ows``."""
    return WcsService(runtime).door("/wcs", _endpoint)
