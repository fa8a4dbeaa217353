"""The one KVP reader of the OGC doors: names in any case, the last of a repeated value."""

from __future__ import annotations

from gateway.ows.dispatch import requested_service
from gateway.ows.kvp import Kvp


def test_names_are_case_insensitive_and_the_last_repeated_value_wins():
    kvp = Kvp.parse("service=WCS&Subset=Long(1,2)&SUBSET=Lat(3,4)&version=&Version=2.0.1")
    assert kvp["SERVICE"] == kvp["service"] == "WCS"
    assert kvp["VERSION"] == "2.0.1"
    assert kvp.all("subset") == ["Long(1,2)", "Lat(3,4)"]
    assert dict(kvp) == {"SERVICE": "WCS", "SUBSET": "Lat(3,4)", "VERSION": "2.0.1"}


def test_the_query_of_an_asgi_request():
    scope = {"type": "http", "query_string": b"Service=wms%20&REQUEST=GetMap&x=%C3%A9"}
    assert Kvp.of_scope(scope)["X"] == "é"
    assert requested_service(scope) == "WMS"
    assert requested_service({"type": "http"}) == ""
