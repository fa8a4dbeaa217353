"""Download Sentinel Hub's published custom scripts of the evalscript acceptance corpus
(tests/fixtures/evalscripts/SOURCES.md) into a folder, for GATEWAY_TEST_CUSTOM_SCRIPTS.

    python scripts/fetch_custom_scripts.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.published_scripts import SCRIPTS


def raw_url(url: str) -> str:
    """A github.com blob URL -> the raw file's URL."""
    return url.replace("https://github.com/", "https://raw.githubusercontent.com/").replace(
        "/blob/", "/", 1
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(SCRIPTS.fetch(Path(sys.argv[1]), raw_url))
