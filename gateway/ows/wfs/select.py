"""Runs a WFS query against the catalog: one page, and numberMatched.

When the catalog decides every constraint exactly, it also sorts and pages, and says how
many features match (a STAC API reads only the pages it needs). Otherwise the catalog
narrows what it can, its answer is streamed in order, and the rest is evaluated here; the
count goes on past the page for at most ``scan_limit`` more scenes, beyond which
numberMatched is unknown (None).
"""

from __future__ import annotations

from dataclasses import replace

from gateway.core.catalog import PagedCatalog
from gateway.ows.wfs.features import Feature, scene_feature
from gateway.ows.wfs.query import Query


def select(
    catalog: PagedCatalog, query: Query, *, scan_limit: int
) -> tuple[list[Feature], int | None]:
    """(the requested page of features, numberMatched or None when unknown)."""
    wanted = query.page_query()
    residual = query.residual()
    if not residual:
        page = catalog.search_page(wanted)
        return [scene_feature(s) for s in page.scenes], page.matched
    first, last = wanted.offset, wanted.offset + wanted.limit
    page_of: list[Feature] = []
    matched = after = 0
    for scene in catalog.scan(replace(wanted, offset=0, limit=0)):
        if matched >= last:
            after += 1
            if after > scan_limit:
                return page_of, None
        feature = scene_feature(scene)
        if all(test(feature) for test in residual):
            if first <= matched < last:
                page_of.append(feature)
            matched += 1
    return page_of, matched
