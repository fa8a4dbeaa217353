"""Gateway errors as pygeoapi errors, so pygeoapi renders them as OGC API problem details, and
pygeoapi's problem details answers typed and logged once."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from pygeoapi.formats import F_HTML, F_JSON, FORMAT_TYPES
from pygeoapi.provider.base import ProviderGenericError

from gateway.errors import GatewayError

log = logging.getLogger(__name__)


class GatewayProviderError(ProviderGenericError):
    """A GatewayError carried through pygeoapi: its status, OGC code and safe message."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message, user_msg=error.message)
        self.http_status_code = HTTPStatus(error.status)
        self.ogc_exception_code = error.code


def translate(error: Exception) -> ProviderGenericError:
    """The pygeoapi error to raise for ``error`` (internal causes are logged when pygeoapi
    answers with it: ``fix_error_answers``, not shown)."""
    if isinstance(error, GatewayError):
        return GatewayProviderError(error)
    return ProviderGenericError(user_msg="internal error")


def fix_error_answers(api: Any) -> None:
    """Every problem details answer of pygeoapi's ``api`` (they all go through
    ``api.get_exception``) is typed as the JSON it is (pygeoapi keeps the requested format's
    type, ``image/png`` for a map) unless HTML, and is logged once: a client error (4xx) as one
    INFO line, a server error at ERROR with the traceback of the exception behind it.

    pygeoapi's own request handlers (loggers ``pygeoapi.api.*``) log client errors at ERROR,
    with tracebacks and some twice, so they are kept to CRITICAL; its ``l10n`` module warns
    about each malformed ``lang`` parameter and, on ``/processes?f=html``, about every key of
    the configuration it takes for a locale (79 lines), so it is kept to ERROR.
    """
    logging.getLogger("pygeoapi.api").setLevel(logging.CRITICAL)
    logging.getLogger("pygeoapi.l10n").setLevel(logging.ERROR)
    render = api.get_exception

    def get_exception(
        status: int, headers: dict, format_: str | None, code: str, description: str
    ) -> tuple[dict, int, str]:
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            failed = sys.exc_info()[0] is not None
            log.error("OGC API %d %s: %s", status, code, description, exc_info=failed)
        else:
            log.info("OGC API %d %s: %s", status, code, description)
        headers, status, content = render(status, headers, format_, code, description)
        if headers.get("Content-Type") != FORMAT_TYPES[F_HTML]:
            headers["Content-Type"] = FORMAT_TYPES[F_JSON]
        return headers, status, content

    api.get_exception = get_exception


def gateway_errors[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a provider method so GatewayErrors reach pygeoapi as its own errors."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ProviderGenericError:
            raise
        except Exception as error:
            raise translate(error) from error

    return wrapper
