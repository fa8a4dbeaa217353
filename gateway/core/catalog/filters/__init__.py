"""The filter model, one of each: ``queryables`` (the properties a filter names), ``operators``
(the operator table), ``like`` (LIKE patterns), ``translate`` (a pygeofilter AST, the one
internal form, as CQL2-JSON for the catalog), ``evaluate`` (CQL2-JSON in Python, with SQL's
null logic) and ``pushdown`` (what of a filter the catalog decides, the rest evaluated in
Python). OGC API Features parses CQL2 into the AST with pygeofilter, the WFS parses FES
(``gateway.ows.wfs.filters``)."""
