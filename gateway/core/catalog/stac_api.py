"""A STAC API backend (CDSE's ``https://stac.dataspace.copernicus.eu/v1`` in production)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote

import requests
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.item_search import ItemSearch
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from gateway.core.catalog import stac_paging
from gateway.core.catalog.models import (
    ASSET_FIELDS,
    EVERY_ASSET,
    DeclaredExtent,
    NearestTo,
    PageQuery,
    Scene,
    ScenePage,
    SearchQuery,
    asset_band,
    declared_extent,
    either_side,
    first_and_rest,
    is_raster,
    order_scenes,
    scene_from_item,
)
from gateway.core.tally import Tally
from gateway.core.upstream import Quota
from gateway.errors import GatewayError, LimitExceeded, UpstreamError

log = logging.getLogger(__name__)

# The orders of ``order_scenes``, ties included (the tiles of one datatake share their
# datetime): a search cut at its limit keeps the same scenes whatever the API's own tie order.
_SORTBY = {
    "mostRecent": [
        {"field": "properties.datetime", "direction": "desc"},
        {"field": "id", "direction": "desc"},
    ],
    "leastRecent": [
        {"field": "properties.datetime", "direction": "asc"},
        {"field": "id", "direction": "asc"},
    ],
    "leastCC": [
        {"field": "properties.eo:cloud_cover", "direction": "asc"},
        {"field": "properties.datetime", "direction": "desc"},
        {"field": "id", "direction": "asc"},
    ],
}


def cql2_filter(query: SearchQuery) -> dict[str, Any] | None:
    """The CQL2-JSON filter for the parts of a query that are not bbox/datetime."""
    parts: list[dict[str, Any]] = []
    if query.max_cloud_cover is not None:
        cloud = [{"property": "eo:cloud_cover"}, float(query.max_cloud_cover)]
        parts.append({"op": "<=", "args": cloud})
    if query.orbit_state is not None:
        parts.append({"op": "=", "args": [{"property": "sat:orbit_state"}, query.orbit_state]})
    if len(parts) > 1:
        return {"op": "and", "args": parts}
    return parts[0] if parts else None


# What a scene is made of besides its assets (``models.scene_from_item``).
SCENE_FIELDS = (
    "id", "collection", "bbox", "geometry", "properties.datetime",
    "properties.start_datetime", "properties.eo:cloud_cover", "properties.gsd",
    "properties.proj:code", "properties.processing:version", "properties.sat:orbit_state",
)  # fmt: skip


def raster_keys(item_assets: dict[str, Any]) -> list[str]:
    """The keys of the data rasters a collection's ``item_assets`` declare."""
    return [k for k, entry in item_assets.items() if isinstance(entry, dict) and is_raster(entry)]


def scene_fields(query: SearchQuery, item_assets: dict[str, Any]) -> list[str] | None:
    """STAC API Fields ``include`` for ``query``: a scene's fields and, of the assets of the
    bands it reads, what a scene reads of them (``ASSET_FIELDS``). A CDSE L2A item has 43
    assets, ~65 kB: pgstac serves it 3–5 times slower than the 6 assets of an NDVI, and those
    whole 1.4 times slower than their fields named. None (whole items) when the query names
    no bands or the collection's ``item_assets`` do not say which assets hold them."""
    if not query.bands:
        return None
    keys = [
        key for key in raster_keys(item_assets) if asset_band(key, item_assets[key]) in query.bands
    ]
    if not keys:
        return None
    return list(named_fields((*SCENE_FIELDS, *(EVERY_ASSET + f for f in ASSET_FIELDS)), keys))


def named_fields(fields: tuple[str, ...], keys: list[str] | None) -> tuple[str, ...]:
    """``fields`` as a STAC API takes them: each ``assets.*.x`` named for every asset of
    ``keys`` (all of ``assets`` when None: the collection declares no raster assets)."""
    every = [f.removeprefix(EVERY_ASSET) for f in fields if f.startswith(EVERY_ASSET)]
    if not every:
        return fields
    rest = tuple(f for f in fields if not f.startswith(EVERY_ASSET))
    if keys is None:
        return (*rest, "assets")
    return (*rest, *(f"assets.{key}.{name}" for key in keys for name in every))


def search_parameters(
    query: SearchQuery, page_size: int = 100, item_assets: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``Client.search`` (POST /search) of a query in an order the API
    sorts by (``either_side`` splits a ``NearestTo`` one)."""
    assert not isinstance(query.order, NearestTo), "no STAC API sorts by time distance"
    params: dict[str, Any] = {
        "collections": [query.collection],
        "bbox": list(query.bbox),
        "sortby": _SORTBY[query.order],
        "max_items": query.limit,
        "limit": min(page_size, query.limit),
        "method": "POST",
    }
    when = query.time.to_stac()
    if when is not None:
        params["datetime"] = when
    cql2 = cql2_filter(query)
    if cql2 is not None:
        params["filter"] = cql2
        params["filter_lang"] = "cql2-json"
    fields = scene_fields(query, item_assets or {})
    if fields is not None:
        params["fields"] = {"include": fields}
    return params


RETRIED_STATUSES = (429, 500, 502, 503, 504)


class ChargedRetry(Retry):
    """urllib3's retries (backoff with jitter, ``Retry-After`` obeyed), each charged to a
    quota before it goes out; each failed try and each retry counted in ``tally``."""

    def __init__(
        self, *args: Any, quota: Quota | None = None, tally: Tally | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.quota = quota
        self.tally = tally if tally is not None else Tally()

    def new(self, **kwargs: Any) -> ChargedRetry:
        retry = cast(ChargedRetry, super().new(**kwargs))
        retry.quota, retry.tally = self.quota, self.tally
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> Retry:  # type: ignore[override]
        self.tally.add("errors")  # urllib3 calls this on each failed try (error or status)
        retry = super().increment(*args, **kwargs)  # raises when no retry is left
        self.tally.add("retries")
        self.tally.add("requests")
        if self.quota is not None:
            self.quota.take(1)
        return retry


class ChargedStacApiIO(StacApiIO):
    """pystac-client's HTTP, each request charged to a quota first (waiting in line) and
    counted in ``tally`` (and as an error when it fails without a retry: the retries count
    their own); ``count_bytes`` counts the answers' bytes."""

    quota: Quota | None = None
    tally: Tally = Tally()

    def request(
        self,
        href: str,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> str:
        self.tally.add("requests")
        if self.quota is not None:
            self.quota.take(1)
        try:
            answer = super().request(href, method=method, headers=headers, parameters=parameters)
        except APIError as exc:
            status = getattr(exc, "status_code", None)  # set only for an HTTP answer
            if status is not None and status not in RETRIED_STATUSES:
                self.tally.add("errors")  # an answer urllib3 does not retry (404, 400, ...)
            raise
        return answer

    def count_bytes(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A ``requests`` response hook: the answer's bytes as sent (compressed or not)."""
        sent = response.headers.get("Content-Length")
        self.tally.add("bytes", int(sent) if sent and sent.isdigit() else len(response.content))


class StacApiCatalog:
    """Searches a STAC API with bounded retries on time-outs, 429 and 5xx answers; with a
    ``quota``, every request (retries included) is charged to it first. ``tally`` counts the
    requests (each try), failed tries, retries and answers' bytes. Pages start at most
    ``max_offset`` scenes in; a number matched above ``exact_count_max`` is an estimate."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        page_size: int = 100,
        quota: Quota | None = None,
        tally: Tally | None = None,
        max_offset: int | None = None,
        exact_count_max: int | None = None,
    ) -> None:
        self._url = url
        self._max_offset = max_offset
        self._exact_count_max = exact_count_max
        self.quota = quota
        self.tally = tally if tally is not None else Tally()
        self._timeout_s = timeout_s
        self._retries = retries
        self._page_size = page_size
        self._client: Client | None = None
        self._io: StacApiIO | None = None
        self._lock = threading.Lock()
        self._assets: dict[str, dict[str, Any]] = {}  # item_assets by collection

    def _open(self) -> Client:
        with self._lock:
            if self._client is None:
                retry = ChargedRetry(
                    total=self._retries,
                    backoff_factor=0.2,
                    backoff_jitter=0.2,
                    status_forcelist=RETRIED_STATUSES,
                    allowed_methods=None,  # POST /search is safe to repeat
                    quota=self.quota,
                    tally=self.tally,
                )
                io = ChargedStacApiIO(timeout=self._timeout_s, max_retries=retry)
                io.quota, io.tally = self.quota, self.tally
                io.session.hooks["response"].append(io.count_bytes)
                client = Client.open(self._url, stac_io=io, timeout=self._timeout_s)
                # Many STAC APIs (CDSE included) sort without advertising the class.
                client.add_conforms_to("SORT")
                client.add_conforms_to("FILTER")
                client.add_conforms_to("FIELDS")
                self._client, self._io = client, io
            return self._client

    def search(self, query: SearchQuery) -> list[Scene]:
        if isinstance(query.order, NearestTo):  # a search each side of the instant
            found = {s.id: s for side in either_side(query) for s in self._sorted(side)}
            return order_scenes(list(found.values()), query.order)[: query.limit]
        return self._sorted(query)

    def _sorted(self, query: SearchQuery) -> list[Scene]:
        """The scenes of ``query``, sorted by the API (its ``sortby``)."""
        try:
            items = list(self._item_search(query).items_as_dicts())
        except GatewayError:  # the quota's 503 among them
            raise
        except Exception as exc:  # network, HTTP, JSON: the client learns only which service
            raise _failed(exc) from exc
        scenes = [scene_from_item(item) for item in items]
        # The API sorted already; sorting again makes ties stable across backends.
        return order_scenes(scenes, query.order)

    def stream(self, query: SearchQuery, first: int) -> Iterator[list[Scene]]:
        """The scenes of ``query`` in order, read as they are consumed: a page of ``first``,
        then, only if more are taken, the rest up to ``query.limit`` in one more page (an API
        honouring the named order, ties included, sends the scenes ``search`` would)."""
        if isinstance(query.order, NearestTo):  # two searches merged: whole answers
            yield from first_and_rest(self.search(query), first)
            return
        try:
            body = self._item_search(query).get_parameters()
        except GatewayError:
            raise
        except Exception as exc:  # the collection's item_assets: network, HTTP, JSON
            raise _failed(exc) from exc

        def size(received: int) -> int:  # the first page, then the rest at once
            return min(first, query.limit) if received == 0 else query.limit - received

        taken = 0
        for page in stac_paging.pages(self._post, body, size):
            scenes = [scene_from_item(item) for item in page.get("features") or []]
            scenes = order_scenes(scenes, query.order)[: query.limit - taken]
            taken += len(scenes)
            if scenes:
                yield scenes
            if taken >= query.limit:
                return

    def _item_search(self, query: SearchQuery) -> ItemSearch:
        """pystac-client's search of ``query``, the assets of its bands only when it names
        them (``search_parameters``); nothing is asked until it is read."""
        client = self._open()
        assets = self._item_assets(query.collection) if query.bands else None
        return client.search(**search_parameters(query, self._page_size, assets))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        """One ``POST /search`` (retried like every search), its JSON answer."""
        try:
            client = self._open()
            link = client.get_search_link()
            href = link.href if link is not None else self._url.rstrip("/") + "/search"
            answer = cast(StacApiIO, self._io).request(href, method="POST", parameters=body)
            return json.loads(answer)
        except GatewayError:
            raise
        except Exception as exc:  # network, HTTP, JSON: the client learns only which service
            raise _failed(exc) from exc

    def search_page(self, query: PageQuery) -> ScenePage:
        """One page of a filtered, sorted search; only the pages it needs are read, and no
        deeper than ``max_offset`` (LimitExceeded, before any request)."""
        if self._max_offset is not None and query.offset > self._max_offset:
            raise LimitExceeded(
                f"a start index of at most {self._max_offset:,} (asked: {query.offset:,}): the"
                " catalog pages by token, so reaching it would read every scene before it;"
                " narrow the query (bbox, time, filter) or sort the other way",
                locator="startIndex",
            )
        return stac_paging.search_page(
            self._post,
            query,
            self._page_size,
            exact_count_max=self._exact_count_max,
            sent=self._sent(query) if query.limit else query.fields,
        )

    def scan(self, query: PageQuery) -> Iterator[Scene]:
        """Every matching scene in order, read page by page as it is consumed."""
        return stac_paging.scan(self._post, query, self._page_size, sent=self._sent(query))

    def _sent(self, query: PageQuery) -> tuple[str, ...]:
        """``query.fields`` as the API takes them, asset by asset of the raster assets its
        collections' ``item_assets`` declare (read only when the fields name ``assets.*``)."""
        if not any(f.startswith(EVERY_ASSET) for f in query.fields):
            return query.fields
        keys: list[str] = []
        for collection in query.collections:
            found = raster_keys(self._item_assets(collection))
            if not found:
                return named_fields(query.fields, None)
            keys += found
        return named_fields(query.fields, list(dict.fromkeys(keys)))

    def declared_extent(self, collection: str) -> DeclaredExtent | None:
        """From ``GET /collections/{id}`` (retried like every search)."""
        document = self._collection(collection)
        return declared_extent(document) if isinstance(document, dict) else None

    def _collection(self, collection: str) -> Any:
        """``GET /collections/{id}`` (retried like every search), its JSON."""
        try:
            self._open()
            href = f"{self._url.rstrip('/')}/collections/{quote(collection, safe='')}"
            return json.loads(cast(StacApiIO, self._io).read_text(href))
        except GatewayError:
            raise
        except Exception as exc:  # network, HTTP, JSON: the client learns only which service
            raise _failed(exc) from exc

    def _item_assets(self, collection: str) -> dict[str, Any]:
        """The collection's ``item_assets`` (read once; {} when it has none)."""
        found = self._assets.get(collection)
        if found is None:
            document = self._collection(collection)
            entries = document.get("item_assets") if isinstance(document, dict) else None
            found = entries if isinstance(entries, dict) else {}
            self._assets[collection] = found
        return found


def _failed(exc: Exception) -> UpstreamError:
    log.warning(
        "STAC search failed: %s", type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG)
    )
    return UpstreamError("the catalog service did not answer")
