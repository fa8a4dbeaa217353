"""Files the tests read from outside the repository because they are third-party (Sentinel
Hub's published scripts, the STAC extensions' schemas): each is listed in a manifest, a
Markdown table of name | source URL | SHA-256, read from the folder an environment variable
names and checked against its listed digest. Without that folder the tests that need them skip,
saying how to download them (CI has no copy and cannot download one)."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

_ROW = re.compile(r"^\| (?P<name>[\w./-]+) \| (?P<url>https://\S+) \| (?P<sha>[0-9a-f]{64}) \|$")


@dataclass(frozen=True)
class ListedFiles:
    manifest: Path
    folder_env: str
    what: str  # what they are, for the skip message
    fetcher: str  # the script that downloads them

    def listed(self) -> dict[str, tuple[str, str]]:
        """Each file's name -> (its source URL, its SHA-256)."""
        rows = (_ROW.match(line) for line in self.manifest.read_text().splitlines())
        return {m["name"]: (m["url"], m["sha"]) for m in rows if m}

    def folder(self) -> Path | None:
        """The folder the environment names, or None."""
        named = os.environ.get(self.folder_env, "").strip()
        return Path(named) if named else None

    def read(self, name: str) -> bytes:
        """The listed file ``name``; the test skips without the folder, and fails when the file
        there is not the listed one."""
        folder = self.folder()
        if folder is None:
            pytest.skip(
                f"{self.folder_env} is not set: {self.what} are third-party, not in this"
                f" repository ({self.fetcher} DIR downloads them)"
            )
        path = folder / name
        if not path.is_file():
            pytest.skip(f"{path} is missing ({self.fetcher} {folder})")
        data = path.read_bytes()
        _, expected = self.listed()[name]
        assert hashlib.sha256(data).hexdigest() == expected, f"{path} is not the listed version"
        return data

    def fetch(self, folder: Path, download_url: Callable[[str], str] = str) -> int:
        """Download every listed file into ``folder`` (the fetch scripts); 1 if one failed."""
        failed = 0
        for name, (url, sha) in self.listed().items():
            with urllib.request.urlopen(download_url(url), timeout=30) as answer:
                data = answer.read()
            if hashlib.sha256(data).hexdigest() != sha:
                print(f"{name}: not the listed version ({url})", file=sys.stderr)
                failed += 1
                continue
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            print(f"{name}: {len(data)} bytes")
        return 1 if failed else 0
