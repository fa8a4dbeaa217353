"""Download Sentinel Hub's published custom scripts of the evalscript acceptance corpus
(tests/fixtures/evalscripts/SOURCES.md) into a folder, for GATEWAY_TEST_CUSTOM_SCRIPTS.

    python scripts/fetch_custom_scripts.py DIR
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.published_scripts import manifest


def raw_url(url: str) -> str:
    """A github.com blob URL -> the raw file's URL."""
    return url.replace("https://github.com/", "https://raw.githubusercontent.com/").replace(
        "/blob/", "/", 1
    )


def main(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name, (url, sha) in manifest().items():
        with urllib.request.urlopen(raw_url(url), timeout=30) as answer:
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != sha:
            print(f"{name}: not the listed version ({url})", file=sys.stderr)
            failed += 1
            continue
        (folder / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
