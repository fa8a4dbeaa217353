"""Download the STAC extension schemas the ingested items name (tests/fixtures/stac-schemas/
SOURCES.md) into a folder, for GATEWAY_TEST_STAC_SCHEMAS.

    python scripts/fetch_stac_schemas.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.stac_schemas import SCHEMAS

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(SCHEMAS.fetch(Path(sys.argv[1])))
