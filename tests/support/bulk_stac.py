"""A STAC collection far larger than the sample, cheap to make: thousands of tiny footprints
loaded into the STAC API stand-in with ``pypgstac load`` (12,000 items take a few seconds),
and a gateway configuration that serves it as one more collection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from tests.support.configs import portable_default_config
from tests.support.stac_api import StacApi

BULK = "bulk-footprints"
START = datetime(2020, 1, 1, tzinfo=UTC)


def bulk_items(count: int, collection: str = BULK) -> list[dict]:
    """``count`` items an hour apart on a 100-column grid of 0.1° x 0.08° cells."""
    items = []
    for i in range(count):
        x, y = (i % 100) * 0.1, 40 + (i // 100) * 0.08
        ring = [[x, y], [x + 0.1, y], [x + 0.1, y + 0.08], [x, y + 0.08], [x, y]]
        items.append({
            "type": "Feature", "stac_version": "1.1.0", "id": f"bulk-{i:05d}",
            "collection": collection, "bbox": [x, y, x + 0.1, y + 0.08],
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "datetime": (START + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eo:cloud_cover": (i * 37) % 100 + 0.5, "grid:code": f"GRID-{i % 7}",
                "platform": "sentinel-2b",
            },
            "assets": {}, "links": [],
        })  # fmt: skip
    return items


def load_bulk(stac: StacApi, folder: Path, items: list[dict], collection: str = BULK) -> None:
    """Create ``collection`` in the stand-in and insert ``items``."""
    record = {
        "type": "Collection", "stac_version": "1.1.0", "id": collection, "license": "other",
        "description": "many small footprints (tests)", "links": [],
        "extent": {"spatial": {"bbox": [[0, 40, 10, 50]]},
                   "temporal": {"interval": [[START.strftime("%Y-%m-%dT%H:%M:%SZ"), None]]}},
    }  # fmt: skip
    (folder / "collection.ndjson").write_text(json.dumps(record) + "\n")
    with (folder / "items.ndjson").open("w") as out:
        out.writelines(json.dumps(item) + "\n" for item in items)
    stac.load("collections", folder / "collection.ndjson")
    stac.load("items", folder / "items.ndjson")


def config_with(folder: Path, collection: str = BULK) -> Path:
    """The default configuration plus ``collection`` (one band, no layer)."""
    raw = portable_default_config()
    raw["collections"].append({"id": collection, "title": "Bulk footprints", "bands": ["B04"]})
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path
