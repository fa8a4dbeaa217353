"""``ogrinfo`` (Debian's gdal-bin: the WFS and OAPIF drivers) as the tests run it."""

from __future__ import annotations

import re
import subprocess


def feature_count(source: str, layer: str, *args: str) -> int:
    """The feature count ``ogrinfo -so`` reports for ``layer`` of ``source`` (``WFS:url``...),
    with its filter options (``-where``, ``-spat``)."""
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", source, layer, *args], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    found = re.search(r"Feature Count: (\d+)", out.stdout)
    assert found is not None, out.stdout
    return int(found.group(1))
