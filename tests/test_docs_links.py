"""Every relative link in README.md and docs/**/*.md names a file that exists.

And its anchor, if any, a heading of that file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# [text](target) or [text](target "title"); images too. Code spans are removed first.
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_BLOCK = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, numbered as GitHub numbers repeated ones."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(CODE_BLOCK.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    """The targets of a page's links that are neither absolute URLs nor mail addresses."""
    text = CODE_SPAN.sub("", CODE_BLOCK.sub("", page.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_slug_follows_github() -> None:
    remote = "remote-storage-requests-and-bytes-per-tile"
    assert slug("Remote storage: requests and bytes per tile") == remote
    assert slug("Time in WCS 2.0.1") == "time-in-wcs-201"
    ogcapi = "ogc-api-at-ogcapi-pygeoapi-features"
    assert slug("OGC API at `/ogcapi` (pygeoapi): Features") == ogcapi


def test_docs_exist() -> None:
    assert len(PAGES) > 1


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
        elif not resolved.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme_or_docs() -> None:
    linked = {
        ((page.parent / t.partition("#")[0]).resolve())
        for page in PAGES
        for t in relative_links(page)
        if t.partition("#")[0]
    }
    orphans = [str(p.relative_to(ROOT)) for p in PAGES[1:] if p.resolve() not in linked]
    assert not orphans, orphans
