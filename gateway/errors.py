"""Errors the gateway raises anywhere and renders in one place per protocol.

Every error carries a protocol-neutral OGC exception code, an HTTP status and a
message that is safe to show to a client. Internal causes are logged, never sent.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error a client may see.

    ``code`` is an OGC exception code (OWS Common / WMS vocabulary), ``status``
    the HTTP status, ``locator`` the request parameter at fault, if any.
    """

    code: str = "NoApplicableCode"
    status: int = 500

    def __init__(
        self,
        message: str,
        *,
        locator: str | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.locator = locator
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidParameterValue(GatewayError):
    """A parameter has a value the gateway cannot accept."""

    code = "InvalidParameterValue"
    status = 400


class MissingParameterValue(GatewayError):
    """A required parameter is absent."""

    code = "MissingParameterValue"
    status = 400


class LimitExceeded(InvalidParameterValue):
    """A request asks for more than the configured limits allow (size, bands, time span)."""


class NotFound(GatewayError):
    """A named collection, layer or resource does not exist."""

    code = "NotFound"
    status = 404


class UpstreamError(GatewayError):
    """A backend (catalog, storage) failed; the message names the service, not the cause."""

    code = "NoApplicableCode"
    status = 502


class Unauthorized(GatewayError):
    """No credentials where they are needed, or credentials that are not valid (401)."""

    code = "NoApplicableCode"
    status = 401


class Forbidden(GatewayError):
    """Valid credentials that do not allow what the request asks (403)."""

    code = "NoApplicableCode"
    status = 403
