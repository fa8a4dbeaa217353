"""The real CDSE STAC items kept in the repository (``tests/fixtures/cdse-stac/``)."""

from __future__ import annotations

import json
from pathlib import Path

CDSE_STAC_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cdse-stac"


def cdse_item(collection: str) -> dict:
    """The real CDSE item of ``collection`` (``sentinel-2-l2a``, ``sentinel-2-global-mosaics``,
    ``sentinel-1-grd``, ``sentinel-2-l1c``, ``sentinel-1-global-mosaics``,
    ``cop-dem-glo-30-dged-cog``, ``cop-dem-glo-90-dged-cog``), as CDSE's catalogue has it."""
    return json.loads((CDSE_STAC_FIXTURES / f"{collection}.item.json").read_text())
