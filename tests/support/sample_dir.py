"""The tests' sample archive in a folder kept between sessions (``GATEWAY_TEST_SAMPLE_DIR``).

``python -m tests.support.sample_dir FOLDER`` writes it ahead of a session (``gateway.sh test``
does while ruff and mypy run); tests/conftest.py's ``sample_archive`` uses the same function.
"""

from __future__ import annotations

import sys
from pathlib import Path


def ensure_sample(root: Path) -> Path:
    """The small sample archive in ``root``, written unless a complete one of this version of
    the writer is there already."""
    from gateway.sample import sample_is_current, write_sample_archive

    if not sample_is_current(root):
        write_sample_archive(root, "small")
    return root


if __name__ == "__main__":
    ensure_sample(Path(sys.argv[1]))
