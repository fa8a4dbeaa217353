"""A STAC API backend (CDSE's ``https://stac.dataspace.copernicus.eu/v1`` in production)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import quote

from pystac_client import Client
from pystac_client.stac_api_io import StacApiIO
from urllib3.util.retry import Retry

from gateway.core.catalog import stac_paging
from gateway.core.catalog.models import (
    DeclaredExtent,
    PageQuery,
    Scene,
    ScenePage,
    SearchQuery,
    declared_extent,
    order_scenes,
    scene_from_item,
)
from gateway.core.upstream import Quota
from gateway.errors import GatewayError, UpstreamError

log = logging.getLogger(__name__)

_SORTBY = {
    "mostRecent": [{"field": "properties.datetime", "direction": "desc"}],
    "leastRecent": [{"field": "properties.datetime", "direction": "asc"}],
    "leastCC": [{"field": "properties.eo:cloud_cover", "direction": "asc"}],
}


def cql2_filter(query: SearchQuery) -> dict[str, Any] | None:
    """The CQL2-JSON filter for the parts of a query that are not bbox/datetime."""
    if query.max_cloud_cover is None:
        return None
    return {
        "op": "<=",
        "args": [{"property": "eo:cloud_cover"}, float(query.max_cloud_cover)],
    }


def search_parameters(query: SearchQuery, page_size: int = 100) -> dict[str, Any]:
    """Keyword arguments for ``Client.search`` (POST /search)."""
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
    return params


class ChargedRetry(Retry):
    """urllib3's retries (backoff with jitter, ``Retry-After`` obeyed), each charged to a
    quota before it goes out."""

    def __init__(self, *args: Any, quota: Quota | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quota = quota

    def new(self, **kwargs: Any) -> ChargedRetry:
        retry = cast(ChargedRetry, super().new(**kwargs))
        retry.quota = self.quota
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> Retry:  # type: ignore[override]
        retry = super().increment(*args, **kwargs)
        if self.quota is not None:
            self.quota.take(1)
        return retry


class ChargedStacApiIO(StacApiIO):
    """pystac-client's HTTP, each request charged to a quota first (waiting in line)."""

    quota: Quota | None = None

    def request(
        self,
        href: str,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> str:
        if self.quota is not None:
            self.quota.take(1)
        return super().request(href, method=method, headers=headers, parameters=parameters)


class StacApiCatalog:
    """Searches a STAC API with bounded retries on time-outs, 429 and 5xx answers; with a
    ``quota``, every request (retries included) is charged to it first."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        page_size: int = 100,
        quota: Quota | None = None,
    ) -> None:
        self._url = url
        self.quota = quota
        self._timeout_s = timeout_s
        self._retries = retries
        self._page_size = page_size
        self._client: Client | None = None
        self._io: StacApiIO | None = None
        self._lock = threading.Lock()

    def _open(self) -> Client:
        with self._lock:
            if self._client is None:
                retry = ChargedRetry(
                    total=self._retries,
                    backoff_factor=0.2,
                    backoff_jitter=0.2,
                    status_forcelist=(429, 500, 502, 503, 504),
                    allowed_methods=None,  # POST /search is safe to repeat
                    quota=self.quota,
                )
                io = ChargedStacApiIO(timeout=self._timeout_s, max_retries=retry)
                io.quota = self.quota
                client = Client.open(self._url, stac_io=io, timeout=self._timeout_s)
                # Many STAC APIs (CDSE included) sort without advertising the class.
                client.add_conforms_to("SORT")
                client.add_conforms_to("FILTER")
                self._client, self._io = client, io
            return self._client

    def search(self, query: SearchQuery) -> list[Scene]:
        try:
            client = self._open()
            result = client.search(**search_parameters(query, self._page_size))
            items = list(result.items_as_dicts())
        except GatewayError:  # the quota's 503 among them
            raise
        except Exception as exc:  # network, HTTP, JSON: the client learns only which service
            raise _failed(exc) from exc
        scenes = [scene_from_item(item) for item in items]
        # The API sorted already; sorting again makes ties stable across backends.
        return order_scenes(scenes, query.order)

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
        """One page of a filtered, sorted search; only the pages it needs are read."""
        return stac_paging.search_page(self._post, query, self._page_size)

    def scan(self, query: PageQuery) -> Iterator[Scene]:
        """Every matching scene in order, read page by page as it is consumed."""
        return stac_paging.scan(self._post, query, self._page_size)

    def declared_extent(self, collection: str) -> DeclaredExtent | None:
        """From ``GET /collections/{id}`` (retried like every search)."""
        try:
            self._open()
            href = f"{self._url.rstrip('/')}/collections/{quote(collection, safe='')}"
            document = json.loads(cast(StacApiIO, self._io).read_text(href))
        except GatewayError:
            raise
        except Exception as exc:  # network, HTTP, JSON: the client learns only which service
            raise _failed(exc) from exc
        return declared_extent(document) if isinstance(document, dict) else None


def _failed(exc: Exception) -> UpstreamError:
    log.warning(
        "STAC search failed: %s", type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG)
    )
    return UpstreamError("the catalog service did not answer")
