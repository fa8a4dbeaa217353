"""Paged STAC API searches: one page at an offset, reading only what that page needs.

STAC APIs page with opaque tokens, not offsets. To reach an offset the pager asks for the
items before it with ``fields`` reduced to their ids (``SKIP_LIMIT`` per request: about 50
bytes per item instead of tens of kilobytes, while pgstac still spends roughly a millisecond
on each, so one request stays well under the time-out), then follows the last answer's
``next`` token for the full items of the page (or only the ``fields`` the query names, as
the caller spells them for the API: ``sent``; what an API sends beyond ``fields`` is dropped
as each page is parsed).
``numberMatched`` (or the older ``context.matched``) comes with the first answer; without it,
or when it is above what the API counts exactly (pgstac estimates large counts), the total is
known only once the end is reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gateway.core.catalog.models import (
    PageQuery,
    Scene,
    ScenePage,
    project_item,
    scene_from_item,
)

SKIP_LIMIT = 2_000  # ids per request while skipping to an offset
IDS_ONLY = {"include": ["id"], "exclude": ["assets", "bbox", "geometry", "links", "properties"]}
Post = Callable[[dict[str, Any]], dict[str, Any]]  # POST /search with a body -> its answer


def _field(name: str) -> str:
    return name if name in ("id", "collection") else f"properties.{name}"


def page_body(query: PageQuery) -> dict[str, Any]:
    """The search body of ``query`` without ``limit`` (collections, sortby, CQL2 filter)."""
    body: dict[str, Any] = {"collections": list(query.collections)}
    if query.sortby:
        body["sortby"] = [
            {"field": _field(k.field), "direction": "desc" if k.descending else "asc"}
            for k in query.sortby
        ]
    if query.filter is not None:
        body["filter"] = json.loads(query.filter)
        body["filter-lang"] = "cql2-json"
    return body


def _request(
    body: dict[str, Any], limit: int, *, ids_only: bool = False, fields: tuple[str, ...] = ()
) -> dict[str, Any]:
    request = {k: v for k, v in body.items() if k not in ("limit", "fields")}
    request["limit"] = limit
    if ids_only:
        request["fields"] = IDS_ONLY
    elif fields:
        request["fields"] = {"include": list(fields)}
    return request


def next_body(page: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
    """The body of the page after ``page`` (its ``next`` link's token), or None at the end."""
    for link in page.get("links") or []:
        if link.get("rel") != "next":
            continue
        if isinstance(link.get("body"), dict):
            return {**body, **link["body"]}
        token = parse_qs(urlsplit(link.get("href", "")).query).get("token")
        if token:
            return {**body, "token": token[0]}
    return None


def matched_of(page: dict[str, Any], exact_count_max: int | None = None) -> int | None:
    """The page's number matched; None when absent or above ``exact_count_max`` (an
    estimate)."""
    value = page.get("numberMatched", (page.get("context") or {}).get("matched"))
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return None if exact_count_max is not None and value > exact_count_max else value


def _features(page: dict[str, Any]) -> list[dict[str, Any]]:
    return page.get("features") or []


def _scenes(page: dict[str, Any], fields: tuple[str, ...]) -> list[Scene]:
    """The page's scenes, their items holding only ``fields`` (all when empty)."""
    return [scene_from_item(project_item(item, fields)) for item in _features(page)]


def search_page(
    post: Post,
    query: PageQuery,
    page_size: int,
    *,
    exact_count_max: int | None = None,
    sent: tuple[str, ...] | None = None,
) -> ScenePage:
    """The scenes at ``query.offset`` .. ``+ limit`` and the number matched (None when
    unknown: not given, or an estimate above ``exact_count_max``, and the end not reached);
    ``sent``: the Fields ``include`` sent for ``query.fields`` (default: the same)."""
    body, matched, skipped = page_body(query), None, 0
    sent = query.fields if sent is None else sent
    while skipped < query.offset:
        page = post(_request(body, min(query.offset - skipped, SKIP_LIMIT), ids_only=True))
        matched = matched if matched is not None else matched_of(page, exact_count_max)
        skipped += len(_features(page))
        following = next_body(page, body)
        if following is None or not _features(page):
            return ScenePage((), matched if matched is not None else skipped)
        body = following
    if query.limit == 0:
        if matched is None:
            page = post(_request(body, 1, ids_only=True))
            matched = matched_of(page, exact_count_max)
            if matched is None and next_body(page, body) is None:
                matched = skipped + len(_features(page))
        return ScenePage((), matched)
    scenes: list[Scene] = []
    while len(scenes) < query.limit:
        page = post(_request(body, min(query.limit - len(scenes), page_size), fields=sent))
        matched = matched if matched is not None else matched_of(page, exact_count_max)
        scenes += _scenes(page, query.fields)
        following = next_body(page, body)
        if following is None or not _features(page):
            if matched is None:  # the end is reached: now the total is known
                matched = skipped + len(scenes)
            break
        body = following
    return ScenePage(tuple(scenes[: query.limit]), matched)


def scan(
    post: Post, query: PageQuery, page_size: int, *, sent: tuple[str, ...] | None = None
) -> Iterator[Scene]:
    """Every matching scene in order, one page of ``page_size`` at a time, lazily (``sent``
    as for ``search_page``)."""
    fields = query.fields if sent is None else sent

    def ask(body: dict[str, Any]) -> dict[str, Any]:  # each page with the fields as sent
        return post(_request(body, page_size, fields=fields))

    for page in pages(ask, page_body(query), lambda _: page_size):
        yield from _scenes(page, query.fields)


def pages(post: Post, body: dict[str, Any], size: Callable[[int], int]) -> Iterator[dict]:
    """The answers of the search ``body``, each page asked only when the one before it is
    consumed, following ``next`` links to the end; ``size(n)``: the limit of the page after
    ``n`` items."""
    received = 0
    while True:
        page = post({**body, "limit": size(received)})
        yield page
        received += len(_features(page))
        following = next_body(page, body)
        if following is None or not _features(page):
            return
        body = following
