"""Scene discovery: a static local catalog and a STAC API client behind a search cache."""

from gateway.core.catalog.base import Catalog, CatalogBackend, PagedCatalog
from gateway.core.catalog.cached import CachedCatalog
from gateway.core.catalog.models import (
    ORDERS,
    Asset,
    NearestTo,
    Order,
    PageQuery,
    Scene,
    SceneOrder,
    ScenePage,
    SearchQuery,
    SortKey,
    TimeRange,
    cql2_text,
    order_scenes,
    scene_from_item,
)
from gateway.core.catalog.stac_api import StacApiCatalog
from gateway.core.catalog.static import StaticCatalog

__all__ = [
    "ORDERS",
    "Asset",
    "CachedCatalog",
    "Catalog",
    "CatalogBackend",
    "NearestTo",
    "Order",
    "PageQuery",
    "PagedCatalog",
    "Scene",
    "SceneOrder",
    "ScenePage",
    "SearchQuery",
    "SortKey",
    "StacApiCatalog",
    "StaticCatalog",
    "TimeRange",
    "cql2_text",
    "order_scenes",
    "scene_from_item",
]
