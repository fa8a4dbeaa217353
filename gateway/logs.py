"""How the gateway logs: every record carries the request id, secrets in query strings never
reach a log line, and lines are text or JSON (``GATEWAY_LOG_FORMAT``).

``logging_config`` is a ``logging.config.dictConfig`` dictionary, handed to uvicorn as its
``log_config`` so that every worker process configures itself the same way.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gateway.context import current_request_id

# Query parameters whose values are credentials: an API key (``key=`` for OGC clients that can
# only append parameters), tokens.
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:key|api_key|apikey|token|access_token|id_token|password)=)[^&;\s\"]*"
)
REDACTED = "REDACTED"

TEXT_FORMAT = "%(levelname)s [%(request_id)s] %(name)s: %(message)s"  # the level first, as before
JSON_FIELDS = "%(asctime)s %(levelname)s %(request_id)s %(name)s %(message)s"


def redact(text: str) -> str:
    """``text`` with the values of credential query parameters replaced."""
    return _SECRET_PARAMETER.sub(r"\g<1>" + REDACTED, text)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (``request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class RedactSecrets(logging.Filter):
    """Replaces credential values in a record's final message (uvicorn's access lines carry
    the whole path with its query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def logging_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """The configuration of every logger the gateway writes through (root and uvicorn's)."""
    formatter: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": JSON_FIELDS}
        if log_format == "json"
        else {"format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "gateway",
        "filters": ["request_id", "redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "redact": {"()": RedactSecrets},
        },
        "formatters": {"gateway": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            name: {"handlers": ["default"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
