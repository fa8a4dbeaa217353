"""The CQL2 conformance classes OGC API Features advertises: what the filter model
(``gateway.core.catalog.filters``) translates for the catalog and evaluates."""

from __future__ import annotations

# Conformance classes of CQL2 1.0 and Features Part 3 that the filter model implements.
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    CQL2 + "cql2-text",
    CQL2 + "cql2-json",
    CQL2 + "basic-cql2",
    CQL2 + "advanced-comparison-operators",
    CQL2 + "basic-spatial-functions",
    CQL2 + "basic-spatial-functions-plus",
    CQL2 + "spatial-functions",
)
