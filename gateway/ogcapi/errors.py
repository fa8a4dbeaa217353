"""Gateway errors as pygeoapi errors, so pygeoapi renders them as OGC API problem details, and
pygeoapi's problem details answers typed and logged once."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus

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
    answers with it: ``_compat.fix_error_answers``, not shown)."""
    if isinstance(error, GatewayError):
        return GatewayProviderError(error)
    return ProviderGenericError(user_msg="internal error")


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
