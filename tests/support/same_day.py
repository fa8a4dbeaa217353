"""Three overlapping L2A scenes of T31UFU on one day at different times: the sample's own of
2025-06-13 (10:56:19 UTC) and two more at 10:00 and 10:40, copies of the items of 05-29 and
06-23 (their files, so each time has its own pixels) dated that day. For Sentinel Hub's
PRIORITY=leastTimeDifference inside the one day TIME reads."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from tests.support.expected import load_items
from tests.support.wcs_checks import L2A, scene_item

DAY = "2025-06-13"
# The added scenes: time of day -> the sample day whose T31UFU files it reads.
ADDED = {"10:00": "2025-05-29", "10:40": "2025-06-23"}


def added_items(archive: Path, collection: str = L2A) -> list[dict]:
    """The two added items (in ``collection``)."""
    items = []
    for clock, source_day in ADDED.items():
        item = copy.deepcopy(scene_item(archive, "31UFU", source_day))
        moment = f"{DAY}T{clock}:00.000000Z"
        compact = DAY.replace("-", "") + "T" + clock.replace(":", "") + "00"
        parts = item["id"].split("_")
        item["id"] = "_".join([parts[0], parts[1], compact, *parts[3:6], parts[6]])
        item["collection"] = collection
        for key in ("datetime", "start_datetime", "end_datetime"):
            item["properties"][key] = moment
        item["links"] = []
        items.append(item)
    return items


def source_day(item_id: str) -> str:
    """The sample day whose files the scene ``item_id`` reads (itself for the sample's own)."""
    for clock, day in ADDED.items():
        if f"T{clock.replace(':', '')}00_" in item_id and DAY.replace("-", "") in item_id:
            return day
    return DAY


def same_day_archive(sample: Path, parent: Path) -> Path:
    """A copy of the sample (its files links to the sample's) whose L2A catalog holds the
    two added scenes too."""

    def link(source: str, target: str) -> None:
        Path(target).symlink_to(source)

    root = Path(shutil.copytree(sample, parent / "archive", copy_function=link))
    ndjson = root / "stac" / "collections" / L2A / "items.ndjson"
    items = load_items(sample, L2A) + added_items(sample)
    ndjson.unlink()
    ndjson.write_text("".join(json.dumps(item) + "\n" for item in items))
    return root


def same_day_catalog(sample: Path, root: Path, collection: str) -> Path:
    """A static catalog at ``root`` of one collection, ``collection``: the sample's L2A scenes
    of DAY and the two added; its folder also holds ``collection.ndjson`` (the L2A collection
    renamed), both files ready for ``pypgstac load``."""
    folder = root / "collections" / collection
    folder.mkdir(parents=True)
    record = json.loads((sample / "stac" / "collections" / L2A / "collection.json").read_text())
    (folder / "collection.ndjson").write_text(json.dumps({**record, "id": collection}) + "\n")
    items = [
        {**item, "collection": collection}
        for item in load_items(sample, L2A)
        if item["properties"]["datetime"].startswith(DAY)
    ] + added_items(sample, collection)
    (folder / "items.ndjson").write_text("".join(json.dumps(item) + "\n" for item in items))
    return folder
