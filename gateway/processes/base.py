"""The pygeoapi processor every gateway process derives from, and error translation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from gateway.errors import GatewayError
from gateway.problems import carried
from gateway.processes.metadata import METADATA
from gateway.processes.plan import Plan, run_here
from gateway.processes.validation import validate_inputs
from gateway.registry import runtime_for
from gateway.runtime import Runtime
from gateway.settings import Settings

log = logging.getLogger(__name__)

Planner = Callable[[dict[str, Any], Runtime, Settings], Plan]


def execute_error(error: Exception) -> ProcessorExecuteError:
    """A pygeoapi error with the right status and a safe message (internal causes logged)."""
    if isinstance(error, ProcessorExecuteError):
        return error
    if isinstance(error, GatewayError):
        return carried(error, ProcessorExecuteError)
    log.error("process failed", exc_info=error)
    return ProcessorExecuteError(user_msg="internal error while executing the process")


class GatewayProcessor(BaseProcessor):
    """Runs its planner's tasks in this thread (the manager runs them on Dask instead)."""

    planner: ClassVar[staticmethod[[dict[str, Any], Runtime, Settings], Plan]]
    metadata_file: ClassVar[str]

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, METADATA[self.metadata_file])
        self.runtime = runtime_for(processor_def)

    def plan(self, data: Any, runtime: Runtime) -> Plan:
        """Check ``data`` against this process's description, then plan the work; a client
        error is a GatewayError naming the input."""
        inputs = validate_inputs(self.metadata, data)
        return type(self).planner(inputs, runtime, runtime.settings)

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        try:
            return run_here(self.plan(data, self.runtime))
        except Exception as error:
            raise execute_error(error) from error
