"""Process execution and job endpoints of the OGC API door.

pygeoapi's own handlers answer, behind the checks pygeoapi lacks (a body that is not a JSON
object, an unknown process, paging values, results of unfinished jobs). The caller's identity
(the access middleware's, ``gateway.access``, in the request context) reaches the job manager,
which scopes jobs to it. Every GatewayError raised on the way (bad inputs, admission limits, the job
store down) is answered here as problem details and logged as one line.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue, NotFound
from gateway.ogcapi._compat import body_problem, with_param
from gateway.ogcapi.endpoints import with_query

log = logging.getLogger(__name__)

Handler = Callable[..., tuple[dict[str, str], int, Any]]
PAGING = re.compile(r"^[0-9]{1,9}$")


def problem(error: GatewayError) -> tuple[dict[str, str], int, str]:
    """Problem details for ``error`` as pygeoapi writes them (headers, status, JSON), with
    ``Retry-After`` when the error says when to come back; logged as one line."""
    level = logging.WARNING if error.status >= 500 else logging.INFO
    log.log(level, "OGC API processes: %d %s: %s", error.status, error.code, error.message)
    headers = {"Content-Type": "application/json"}
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    body = {"type": error.code, "code": error.code, "description": error.message}
    return headers, error.status, json.dumps(body)


def answered(handler: Handler) -> Handler:
    """``handler`` with GatewayErrors, and internal failures, answered as problem details."""

    @functools.wraps(handler)
    def run(api: Any, request: Any, *ids: str) -> tuple[dict[str, str], int, Any]:
        try:
            return handler(api, request, *ids)
        except GatewayError as error:
            return problem(error)
        except Exception:
            log.exception("OGC API processes: internal error")
            return problem(GatewayError("internal error"))

    return run


def execute(api: Any, request: Any, process_id: str) -> tuple[dict[str, str], int, Any]:
    from pygeoapi.api import processes

    if process_id not in api.manager.processes:
        raise NotFound("no such process", locator="processId", code="NoSuchProcess")
    if not request.data:
        raise MissingParameterValue("the request body must be an execute request", locator="body")
    return processes.execute_process(api, request, process_id)


def list_jobs(api: Any, request: Any, *job_id: str) -> tuple[dict[str, str], int, Any]:
    from pygeoapi.api import processes

    for name in ("limit", "offset"):
        value = request.params.get(name)
        if value is not None and not (PAGING.match(value) and (name == "offset" or int(value))):
            raise InvalidParameterValue(f"{name} must be a whole number", locator=name)
    if request.params.get("offset") is None:  # pygeoapi logs a warning for each one without
        with_param(request, "offset", "0")
    return processes.get_jobs(api, request, *job_id)


def job_results(api: Any, request: Any, job_id: str) -> tuple[dict[str, str], int, Any]:
    from pygeoapi.api import processes

    job = api.manager.get_job(job_id)
    if job["status"] in ("accepted", "running"):
        raise NotFound("the job has not finished yet", locator="jobId", code="ResultNotReady")
    if job["status"] == "failed":
        raise InvalidParameterValue(f"the job failed: {job['message']}", locator="jobId")
    return processes.get_job_result(api, request, job_id)


def endpoint(
    module: ModuleType, handler: Handler, by_method: Mapping[str, Handler] | None = None
) -> Callable[[Request], Any]:
    """A Starlette endpoint running ``handler`` (or ``by_method``'s) for the caller."""
    inner = with_query(
        module, answered(handler), {m: answered(h) for m, h in (by_method or {}).items()}
    )

    async def serve(request: Request) -> Response:
        if request.method == "POST":
            trouble = body_problem(await request.body())
            if trouble:
                headers, status, content = problem(InvalidParameterValue(trouble, locator="body"))
                return Response(content, status, headers=headers)
        return await inner(request)

    return serve


def job_routes(module: ModuleType, prefix: str) -> list[BaseRoute]:
    """The execution and job routes of the door's pygeoapi ``module`` under ``prefix``."""
    from pygeoapi.api import processes

    return [
        Route(
            prefix + "/processes/{process_id}/execution",
            endpoint(module, execute),
            methods=["POST"],
        ),
        Route(prefix + "/jobs", endpoint(module, list_jobs)),
        Route(
            prefix + "/jobs/{job_id}",
            endpoint(module, list_jobs, {"DELETE": processes.delete_job}),
            methods=["GET", "DELETE"],
        ),
        Route(prefix + "/jobs/{job_id}/results", endpoint(module, job_results)),
    ]
