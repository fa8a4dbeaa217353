"""A mosaic takes its scenes from the catalog as it needs them (``Catalog.stream``): the first
``limits.first_scenes``, the rest only if pixels are left unfilled; the same pixels from the
same scenes as when every scene is found first; and the work bounds still hold."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from pydantic import ValidationError

from gateway.config import Limits
from gateway.core.admission import Admission, RequestTicket
from gateway.core.catalog import SearchQuery
from gateway.core.engine import Engine
from gateway.core.request import build_request
from gateway.errors import LimitExceeded

AREA = (5.93, 52.57, 6.21, 52.67)  # both sample tiles, across the UTM 31/32 boundary
UTM31 = (700000.0, 5832000.0, 703000.0, 5835000.0)  # inside T31UFU


class _Counted:
    """The runtime's catalog, counting whole searches and the scenes of the pages its streams
    hand out."""

    def __init__(self, inner) -> None:
        self.inner, self.searches, self.taken = inner, 0, 0

    def search(self, query: SearchQuery) -> list:
        self.searches += 1
        return self.inner.search(query)

    def stream(self, query: SearchQuery, first: int) -> Iterator:
        for page in self.inner.stream(query, first):
            self.taken += len(page)
            yield page


def _engine(runtime, *, first: int = 8, admission: Admission | None = None):
    limits = runtime.config.limits.model_copy(update={"first_scenes": first})
    config = runtime.config.model_copy(update={"limits": limits})
    catalog = _Counted(runtime.engine.catalog)
    engine = Engine(config, catalog, runtime.engine.reader, None, admission=admission)  # type: ignore[arg-type]
    return engine, catalog


MAPS = {  # (request, scenes its mosaic reads)
    "one scene fills it": (dict(layer="NDVI", crs="EPSG:32631", bbox=UTM31, width=300,
                                height=300, time="2025-06-23"), 1),
    "clouds filled from older scenes": (dict(layer="NDVI", crs="EPSG:32631", bbox=UTM31,
                                             width=300, height=300, time="2025-06"), 2),
    "two UTM zones": (dict(layer="TRUE_COLOR", crs="EPSG:4326", bbox=AREA, width=320,
                           height=160, time="2025-06-13"), 2),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MAPS))
def test_a_mosaic_takes_no_scene_it_does_not_read(name, runtime):
    """Whatever the first page's size, the same pixels from the same scenes as the runtime's
    own engine, and no page taken from the catalog past the one holding the last scene read
    (the first ``first``, then the rest in one)."""
    params, used = MAPS[name]
    expected = runtime.engine.compute(build_request(runtime.config, **params))
    assert len(expected.scenes) == used
    found = len(runtime.engine.search(build_request(runtime.config, **params), ("B04",)))
    for first in (1, 2, 8, 40):
        engine, catalog = _engine(runtime, first=first)
        got = engine.compute(build_request(engine.config, **params))
        assert [s.id for s in got.scenes] == [s.id for s in expected.scenes], first
        assert np.array_equal(got.valid, expected.valid)
        np.testing.assert_array_equal(got.data, expected.data)
        assert catalog.taken == (min(found, first) if used <= first else found), (name, first)
        assert catalog.searches == 0  # no scene counted first


def test_a_map_whose_work_could_pass_the_limit_counts_its_scenes_first(runtime):
    """All 13 bands at 4000 x 4000 could pass limits.max_work with max_scenes scenes: its
    scenes are counted before anything is read (8 of them: refused, as before)."""
    engine, catalog = _engine(runtime)
    bands = ";".join(f"B{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 8)) + ";B8A;B09;B11;B12;SCL"
    request = build_request(
        engine.config, collection="sentinel-2-l2a", expression=bands.replace(";", "+"),
        crs="EPSG:4326", bbox=AREA, width=4000, height=4000, format="tiff",
    )  # fmt: skip
    with pytest.raises(LimitExceeded):
        engine.compute(request)
    assert catalog.searches == 1 and catalog.taken == 0


def test_admission_follows_the_work_of_the_scenes_taken(runtime):
    """A map admitted by its first page's work before any read (3000 x 1200 x 3 bands x 2
    scenes: over min_work); one whose bounds cannot be reached however many scenes there are
    admitted without a search (the WMS door's check ahead of MapProxy)."""
    admission = Admission(slots=1, queue=0, min_work=1 << 24)
    engine, catalog = _engine(runtime, admission=admission)
    big = build_request(engine.config, layer="TRUE_COLOR", crs="EPSG:4326", bbox=AREA,
                        width=3000, height=1200, time="2025-06-13")  # fmt: skip
    with RequestTicket():
        engine.compute(big)
        assert admission.state()["running"] == 1
    assert admission.state()["running"] == 0
    small = build_request(engine.config, layer="TRUE_COLOR", crs="EPSG:4326", bbox=AREA,
                          width=256, height=128, time="2025-06-13")  # fmt: skip
    with RequestTicket():
        engine.admit([small, small])
        assert admission.state()["running"] == 0
    assert catalog.searches == 0
    with RequestTicket():
        engine.admit([big])  # could reach min_work: its scenes are counted
        assert admission.state()["running"] == 1
    assert catalog.searches == 1


@pytest.mark.parametrize("value", [0, -1, "eight", float("nan"), 2.5, None])
def test_a_first_page_setting_that_is_not_a_positive_count_is_refused(value):
    """``limits.first_scenes`` in a configuration file: anything but a whole number ≥ 1 is
    refused when the configuration is read, naming the setting."""
    with pytest.raises(ValidationError, match="first_scenes"):
        Limits(first_scenes=value)
    assert Limits(first_scenes=1 << 40).first_scenes == 1 << 40  # huge: max_scenes still cuts
