"""Ingested items posted to a STAC API with the Transaction extension (``GATEWAY_STAC_URL``):
the collection and each item created (POST) or, when there already (409), replaced (PUT);
``--remove`` DELETEs the item and updates the collection, which stays, as in the static
catalog. A failed request is a ``BadInput`` naming the method and the path, never the URL
(its user:password is sent as basic authentication and never shown)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from gateway.byod.catalog import BYOD_KEY, collection_document, item_bands
from gateway.byod.inputs import BadInput

# Items and collections are read 1000 a page, at most this many pages.
_PAGE, _MAX_PAGES = 1000, 100


class StacApiWriter:
    """A STAC API's Transaction extension, through httpx with a timeout per request."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url.rstrip("/"))
        self.auth = (
            httpx.BasicAuth(parts.username or "", parts.password or "")
            if parts.username or parts.password
            else None
        )
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        self.root = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self.timeout_s = timeout_s

    def request(
        self, method: str, path: str, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """One request at ``path`` (or an absolute link of the API's): a success or a status
        in ``accept`` is returned, any other answer or none raises ``BadInput``."""
        url, shown = self.url(path), self.shown(method, path)
        try:
            response = httpx.request(method, url, auth=self.auth, timeout=self.timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise BadInput(f"the STAC API did not answer {shown}: {type(exc).__name__}") from None
        if response.is_success or response.status_code in accept:
            return response
        raise BadInput(
            f"the STAC API answered {response.status_code} to {shown}: {_detail(response)}"
        )

    def url(self, path: str) -> str:
        """A path on the API, or an absolute link as it is."""
        return path if path.startswith(("http://", "https://")) else self.root + path

    def shown(self, method: str, path: str) -> str:
        """The request in a message: the method and the URL's path only."""
        return f"{method} {urlsplit(self.url(path)).path}"

    def document(self, path: str) -> dict | None:
        """The JSON object at ``path``; None when it is not there (404)."""
        response = self.request("GET", path, accept=(404,))
        if response.status_code == 404:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BadInput(f"the STAC API answered {self.shown('GET', path)} without JSON")
        return body

    def pages(self, path: str, key: str) -> Iterator[dict]:
        """The objects listed under ``key`` at ``path`` and at its ``next`` links (those on
        the API itself: the credentials go nowhere else)."""
        for _ in range(_MAX_PAGES):
            page = self.document(path)
            if page is None:
                return
            listed = page.get(key)
            if not isinstance(listed, list):
                raise BadInput(f"the STAC API answered {self.shown('GET', path)} without {key}")
            yield from (entry for entry in listed if isinstance(entry, dict))
            following = [link["href"] for link in page.get("links", []) if _is_next(link)]
            if not following or not following[0].startswith(self.root + "/"):
                return
            path = following[0]

    def collections(self) -> list[dict]:
        """Every collection document of the API."""
        return list(self.pages(f"/collections?limit={_PAGE}", "collections"))

    def items(self, collection: str) -> list[dict]:
        """Every item of ``collection`` (none when it is not there)."""
        return list(self.pages(f"/collections/{quote(collection)}/items?limit={_PAGE}", "features"))

    def upsert(self, path: str, document: dict, replace: str) -> None:
        """POST ``document`` to ``path``; when it is there already (409), PUT it at ``replace``."""
        if self.request("POST", path, accept=(409,), json=document).status_code == 409:
            self.request("PUT", replace, json=document)

    # --- CatalogWriter ---------------------------------------------------------------------

    def foreign(self, collection: str) -> bool:
        found = self.document(f"/collections/{quote(collection)}")
        return found is not None and not found.get(BYOD_KEY)

    def other_bands(self, collection: str, item_id: str) -> tuple[str, ...] | None:
        others = [i for i in self.items(collection) if i.get("id") != item_id]
        return item_bands(others[0]) if others else None

    def item_hrefs(self, collection: str, item_id: str) -> list[str]:
        found = self.document(f"/collections/{quote(collection)}/items/{quote(item_id)}")
        assets = (found or {}).get("assets", {})
        return [a["href"] for a in assets.values() if isinstance(a, dict) and "href" in a]

    def put_item(self, item: dict) -> None:
        collection = item["collection"]
        others = [i for i in self.items(collection) if i.get("id") != item["id"]]
        self._put_collection(collection, [*others, item])
        items = f"/collections/{quote(collection)}/items"
        self.upsert(items, item, f"{items}/{quote(item['id'])}")

    def remove_item(self, collection: str, item_id: str) -> bool:
        path = f"/collections/{quote(collection)}/items/{quote(item_id)}"
        if self.request("DELETE", path, accept=(404,)).status_code == 404:
            return False
        self._put_collection(collection, self.items(collection))
        return True

    def _put_collection(self, collection: str, items: list[dict]) -> None:
        document = collection_document(collection, items)
        self.upsert("/collections", document, f"/collections/{quote(collection)}")


def _is_next(link: Any) -> bool:
    if not isinstance(link, dict):
        return False
    return link.get("rel") == "next" and isinstance(link.get("href"), str)


def _detail(response: httpx.Response) -> str:
    """The API's own words (its ``description`` or ``detail``), shortened."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, dict):
        text = str(body.get("description") or body.get("detail") or "")
    return " ".join(text.split())[:200] or response.reason_phrase or "no reason given"
