"""Gateway errors as pygeoapi errors, so pygeoapi renders them as OGC API problem details, and
pygeoapi's problem details answers typed and logged once."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from pygeoapi.provider.base import ProviderGenericError

from gateway.errors import GatewayError
from gateway.problems import carried

log = logging.getLogger(__name__)


def translate(error: Exception) -> ProviderGenericError:
    """The pygeoapi error to raise for ``error`` (internal causes are logged when pygeoapi
    answers with it: ``_compat.fix_error_answers``, not shown)."""
    if isinstance(error, GatewayError):
        return carried(error, ProviderGenericError)
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
