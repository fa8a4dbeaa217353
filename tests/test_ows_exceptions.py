"""One status table and one lxml renderer per exception dialect of the classic doors."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.errors import GatewayError, InvalidParameterValue, NotFound
from gateway.ows.exceptions import Dialect, error_response, report_of


@pytest.mark.parametrize(
    ("code", "status", "dialect", "expected"),
    [
        ("OperationNotSupported", 400, Dialect.OWS11, 501),  # WMTS 1.0.0, WFS 2.0
        ("OperationNotSupported", 400, Dialect.WMS130, 400),  # the WMS door's own
        ("NoApplicableCode", 503, Dialect.OWS20, 503),  # a server error keeps its status
        ("NoApplicableCode", 500, Dialect.WMS111, 500),
        ("LayerNotDefined", 404, Dialect.WMS130, 400),
        ("InvalidScaleFactor", 400, Dialect.OWS20, 404),
        ("SomethingElse", 409, Dialect.OWS11, 409),  # not in the table: the error's own
    ],
)
def test_the_status_table(code, status, dialect, expected):
    error = GatewayError("x", code=code, status=status)
    assert report_of(error, dialect, codes={}).status == expected


def test_internal_errors_say_nothing_of_their_cause():
    report = report_of(RuntimeError("secret path /etc"), Dialect.OWS20)
    assert (report.code, report.text, report.status) == ("NoApplicableCode", "internal error", 500)


def test_a_door_names_its_codes():
    codes = {"NotFound": "NoSuchCoverage"}
    assert report_of(NotFound("no"), Dialect.OWS20, codes).code == "NoSuchCoverage"
    assert report_of(GatewayError("x", code="LayerNotDefined"), Dialect.OWS11).code == (
        "InvalidParameterValue"
    )


def test_wms_111_has_its_doctype_and_no_locator():
    answer = error_response(InvalidParameterValue("bad", locator="bbox"), Dialect.WMS111)
    assert answer.media_type == "application/vnd.ogc.se_xml"
    assert b"<!DOCTYPE ServiceExceptionReport SYSTEM" in answer.body
    root = etree.fromstring(answer.body)
    assert root.tag == "ServiceExceptionReport" and root.get("version") == "1.1.1"
    assert root[0].attrib == {"code": "InvalidParameterValue"}


@pytest.mark.parametrize("dialect", list(Dialect))
def test_text_that_xml_cannot_hold_is_replaced_not_a_crash(dialect):
    answer = error_response(InvalidParameterValue("a\x00b\x1b<c>&"), dialect)
    text = "".join(etree.fromstring(answer.body).itertext())
    assert "a\ufffdb\ufffd<c>&" in text
