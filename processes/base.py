"""The pygeoapi processor every gateway process derives from, and error translation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from gateway.errors import GatewayError
from gateway.runtime import Runtime
from gateway.settings import Settings
from processes.metadata import METADATA
from processes.plan import Plan, run_here

log = logging.getLogger(__name__)

Planner = Callable[[dict[str, Any], Runtime, Settings], Plan]


def execute_error(error: Exception) -> ProcessorExecuteError:
    """A pygeoapi error with the right status and a safe message (internal causes logged)."""
    if isinstance(error, ProcessorExecuteError):
        return error
    if isinstance(error, GatewayError):
        wrapped = ProcessorExecuteError(user_msg=error.message)
        wrapped.http_status_code = HTTPStatus(error.status)
        wrapped.ogc_exception_code = error.code
        return wrapped
    log.error("process failed", exc_info=error)
    return ProcessorExecuteError(user_msg="internal error while executing the process")


class GatewayProcessor(BaseProcessor):
    """Runs its planner's tasks in this thread (the manager runs them on Dask instead)."""

    planner: ClassVar[Planner]
    metadata_file: ClassVar[str]

    def __init__(self, processor_def: dict[str, Any]) -> None:
        from gateway.ogcapi.registry import runtime_for

        super().__init__(processor_def, METADATA[self.metadata_file])
        self.runtime = runtime_for(processor_def)

    def plan(self, data: dict[str, Any], runtime: Runtime) -> Plan:
        try:
            if not isinstance(data, dict):
                raise ProcessorExecuteError(user_msg="inputs must be an object")
            return type(self).planner(data, runtime, runtime.settings)
        except Exception as error:
            raise execute_error(error) from error

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        plan = self.plan(data, self.runtime)
        try:
            return run_here(plan)
        except Exception as error:
            raise execute_error(error) from error
