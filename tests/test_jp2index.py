"""Tile-part indexes of JPEG 2000 files spliced in as a TLM marker (gateway.core.jp2index,
gateway.core.spliced):
the same pixels as the file, the same entries as GDAL's own TLM, and from S3 a window of a
far tile in a few GETs in a process that did not make the index."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from gateway.core.cache import MemoryCache, create_cache
from gateway.core.catalog import scene_from_item
from gateway.core.jp2index import HEAD_BYTES, NotIndexable, index_file, read_layout, tlm_segments
from gateway.core.reader import RemoteCharge
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import Storage
from tests.support.request_counts import clear_gdal_http_cache, cost_of
from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, start_s3

SIDE = 3072
TILE = 256  # 144 tiles, one tile-part each
FAR = Window(SIDE - TILE + 17, SIDE - TILE + 33, 100, 90)  # inside the last tile


def _pixels() -> np.ndarray:
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 4000, (SIDE // 32, SIDE // 32)).astype(np.uint16)
    return np.kron(coarse, np.ones((32, 32), np.uint16)) + rng.integers(0, 40, (SIDE, SIDE)).astype(
        np.uint16
    )


def _write_jp2(path: Path, data: np.ndarray, **options: str) -> Path:
    with rasterio.MemoryFile() as memory, memory.open(
        driver="GTiff", width=SIDE, height=SIDE, count=1, dtype="uint16", crs="EPSG:32631",
        transform=rasterio.transform.from_origin(600000, 5900000, 10, 10),
    ) as mem:  # fmt: skip
        mem.write(data, 1)
        rasterio.shutil.copy(
            mem, str(path), driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES",
            BLOCKXSIZE=str(TILE), BLOCKYSIZE=str(TILE), RESOLUTIONS="4", **options,
        )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same pixels as a JP2 without a TLM marker, and with GDAL's own (TLM=YES)."""
    folder = tmp_path_factory.mktemp("jp2")
    (folder / "eodata").mkdir()
    data = _pixels()
    return {
        "plain": _write_jp2(folder / "eodata" / "plain.jp2", data),
        "tlm": _write_jp2(folder / "tlm.jp2", data, TLM="YES"),
    }


def _local_reader(path: Path):
    size = path.stat().st_size
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> tuple[bytes, int]:
        reads.append((offset, length))
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(length), size

    return read, reads


def _tlm_entries(path: Path) -> list[tuple[int, int]]:
    """The (tile, length) entries of a file's own TLM marker segments."""
    head = path.read_bytes()[:HEAD_BYTES]
    layout = read_layout(head, path.stat().st_size)
    assert layout is not None and layout.has_tlm
    pos = head.index(b"\xff\x4f") + 2
    segments = b""
    while pos < layout.first_sot:
        marker, length = struct.unpack(">HH", head[pos : pos + 4])
        if marker == 0xFF55:
            segments += head[pos : pos + 2 + length]
        pos += 2 + length
    return _parse_tlm(segments)


def _parse_tlm(segments: bytes, stlm: int | None = None) -> list[tuple[int, int]]:
    """The (tile, length) entries of consecutive TLM marker segments (each with the Stlm
    ``stlm`` when given)."""
    entries: list[tuple[int, int]] = []
    pos = 0
    while pos < len(segments):
        marker, length = struct.unpack(">HH", segments[pos : pos + 4])
        assert marker == 0xFF55 and stlm in (None, segments[pos + 5])
        tile_bytes = (segments[pos + 5] >> 4) & 3
        step = tile_bytes + (4 if segments[pos + 5] & 0x40 else 2)
        body = segments[pos + 6 : pos + 2 + length]
        for at in range(0, len(body), step):
            tile = int.from_bytes(body[at : at + tile_bytes]) if tile_bytes else len(entries)
            entries.append((tile, int.from_bytes(body[at + tile_bytes : at + step])))
        pos += 2 + length
    return entries


def test_the_index_as_a_tlm_marker_reads_every_pixel_of_the_file_at_every_level(files):
    plain, with_tlm = files["plain"], files["tlm"]
    read, reads = _local_reader(plain)
    spliced = index_file(read)
    assert spliced is not None
    assert len(reads) == 1 + (SIDE // TILE) ** 2  # the head, then each tile-part's header
    assert all(length == 12 for _, length in reads[1:])
    # The entries GDAL itself writes with TLM=YES, in the same order.
    ours = _tlm_entries_of_splice(spliced.head, spliced.insert_at)
    assert ours == _tlm_entries(with_tlm)

    indexes = TilePartIndexes(MemoryCache())
    opened = indexes.make(str(plain), read)
    assert opened.startswith("/vsisparse/") and indexes.file_of(opened) == str(plain)
    with rasterio.open(plain) as original, rasterio.open(opened) as src:
        assert src.driver == "JP2OpenJPEG" and src.profile == original.profile
        np.testing.assert_array_equal(src.read(), original.read())
        for level in range(len(original.overviews(1))):
            with (
                rasterio.open(plain, overview_level=level) as a,
                rasterio.open(opened, overview_level=level) as b,
            ):
                np.testing.assert_array_equal(b.read(), a.read())
    # A file with its own TLM marker is opened as it is.
    read_tlm, _ = _local_reader(with_tlm)
    assert index_file(read_tlm) is None
    assert indexes.make(str(with_tlm), read_tlm) == str(with_tlm)


def _tlm_entries_of_splice(head: bytes, insert_at: int) -> list[tuple[int, int]]:
    return _parse_tlm(head[insert_at:], stlm=0x60)


def test_tlm_marker_segments_split_where_their_length_field_ends():
    parts = [(i % 65535, 1000 + i) for i in range(25_000)]
    segments = tlm_segments(parts)
    found, pos, index = [], 0, 0
    while pos < len(segments):
        marker, length, z, stlm = struct.unpack(">HHBB", segments[pos : pos + 6])
        assert (marker, z, stlm) == (0xFF55, index, 0x60) and length <= 0xFFFF
        found += _tlm_entries_of_splice(segments[pos : pos + 2 + length], 0)
        pos, index = pos + 2 + length, index + 1
    assert index == 3 and found == parts


def test_what_is_not_a_jpeg2000_code_stream_as_expected_is_opened_as_it_is(files, tmp_path):
    tiff = tmp_path / "a.tif"
    with rasterio.open(files["plain"]) as src:
        rasterio.shutil.copy(src, str(tiff), driver="GTiff")
    broken = tmp_path / "broken.jp2"
    data = bytearray(files["plain"].read_bytes())
    spliced = index_file(_local_reader(files["plain"])[0])
    assert spliced is not None
    second_sot = spliced.insert_at + struct.unpack(">I", data[spliced.insert_at + 6 :][:4])[0]
    data[second_sot : second_sot + 2] = b"\x00\x00"  # no SOT where the first tile-part ends
    broken.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.jp2"
    truncated.write_bytes(files["plain"].read_bytes()[: spliced.insert_at + 5000])
    cache = MemoryCache()
    indexes = TilePartIndexes(cache)
    for path in (tiff, broken, truncated):
        read, _ = _local_reader(path)
        with pytest.raises(NotIndexable):
            index_file(read)
        assert indexes.make(str(path), read) == str(path)
        assert cache.get(indexes.cache_key(str(path))) == b"plain"  # not walked again
        assert TilePartIndexes(cache).opened(str(path)) == str(path)


def test_one_process_indexes_a_file_while_another_waits_for_its_index(files):
    shared = MemoryCache()  # two processes' indexes over one cache
    first, second = TilePartIndexes(shared), TilePartIndexes(shared)
    read, reads = _local_reader(files["plain"])
    started = threading.Event()

    def slow(offset: int, length: int) -> tuple[bytes, int]:
        started.set()
        time.sleep(0.002)
        return read(offset, length)

    made: dict[str, str] = {}
    worker = threading.Thread(target=lambda: made.update(a=first.make("/x/plain.jp2", slow)))
    worker.start()
    started.wait(5)
    never: list[int] = []

    def refuse(offset: int, length: int) -> tuple[bytes, int]:
        never.append(offset)
        raise AssertionError("the second process walked the file too")

    made["b"] = second.make("/x/plain.jp2", refuse)
    worker.join()
    assert never == [] and len(reads) == 1 + (SIDE // TILE) ** 2
    assert made["a"].startswith("/vsisparse/") and made["b"].startswith("/vsisparse/")


# --- from S3: the index made in one process, a far tile read in another --------------------

_READ_FAR = """
import hashlib, sys
import rasterio
from rasterio.windows import Window
from gateway.core.cache import create_cache
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import Storage

redis_url, endpoint, path, indexed, window = sys.argv[1:6]
storage = Storage(mode="s3", s3_endpoint=endpoint, access_key_id="test",
                  secret_access_key="test", https=False, region="us-east-1")
indexes = TilePartIndexes(create_cache(redis_url))  # holds the spliced files in memory
opened = indexes.opened(path) if indexed == "1" else path
assert opened is not None and (opened != path) == (indexed == "1"), opened
with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
    with rasterio.open(opened) as src:
        data = src.read(1, window=Window(*map(int, window.split(","))))
print(hashlib.sha256(data.tobytes()).hexdigest())
"""


@pytest.fixture(scope="module")
def jp2_s3(files, tmp_path_factory) -> Iterator[S3Server]:
    server = start_s3(files["plain"].parent, tmp_path_factory.mktemp("moto-jp2"))
    yield server
    server.stop()


def _storage(server: S3Server) -> Storage:
    return Storage(
        mode="s3", s3_endpoint=server.endpoint, access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY, https=False, region=REGION,
    )  # fmt: skip


def test_an_index_made_once_lets_another_process_read_a_far_tile_in_a_few_gets(
    files, jp2_s3, redis_client, redis_server
):
    redis_client.flushdb()
    path = "/vsis3/eodata/plain.jp2"
    storage = _storage(jp2_s3)
    jp2_s3.proxy.reset()
    indexes = TilePartIndexes(create_cache(redis_server.url))
    opened = indexes.make(path, storage.range_reader(path))
    assert opened.startswith("/vsisparse/")
    made = cost_of(jp2_s3.proxy.hits())
    tiles = (SIDE // TILE) ** 2
    assert made.requests == 1 + tiles  # the head, then 12 bytes of each tile-part
    assert made.bytes <= HEAD_BYTES + 12 * tiles

    with rasterio.open(files["plain"]) as src:
        expected = hashlib.sha256(src.read(1, window=FAR).tobytes()).hexdigest()
    window = f"{FAR.col_off},{FAR.row_off},{FAR.width},{FAR.height}"
    gets = {}
    for indexed in ("1", "0"):
        clear_gdal_http_cache()
        jp2_s3.proxy.reset()
        answer = subprocess.run(
            [sys.executable, "-c", _READ_FAR, redis_server.url, jp2_s3.endpoint, path, indexed,
             window],
            capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1],
        )  # fmt: skip
        assert answer.returncode == 0 and answer.stdout.strip() == expected, answer.stderr[-2000:]
        gets[indexed] = cost_of(jp2_s3.proxy.hits())
    # With the index: the header, then the tile's bytes; without: every tile-part's header.
    assert gets["1"].requests <= 4, gets["1"]
    assert gets["0"].requests >= tiles // 2, gets["0"]
    # A reader opening the file as it is (its index not made yet) charges the walk: the
    # quota is charged no less than what S3 saw.
    charge = RemoteCharge()
    with rasterio.open(files["plain"]) as src:
        assert charge.walk(src) == tiles
        charged = charge.open + charge.walk(src) + charge.per_read
    assert gets["0"].requests <= charged, (gets["0"], charged)


def test_only_large_jpeg2000_files_on_s3_are_indexed():
    indexes = TilePartIndexes(None)
    key = "/vsis3/eodata/Sentinel-2/MSI/L2A/x.SAFE/GRANULE/g/IMG_DATA"
    assert indexes.applies(f"{key}/R10m/T31UFU_B04_10m.jp2", (10980, 10980))  # 121 tiles
    assert indexes.applies(f"{key}/R20m/T31UFU_B05_20m.jp2", (5490, 5490))  # 36
    assert not indexes.applies(f"{key}/R60m/T31UFU_B01_60m.jp2", (1830, 1830))  # 4
    assert indexes.applies(f"{key}/R10m/T31UFU_B04_10m.JP2", None)  # its header will tell
    assert not indexes.applies("/data/eodata/T31UFU_B04_10m.jp2", None)  # local: no walk
    assert not indexes.applies("/vsis3/eodata/mosaics/B04.tif", None)


@pytest.mark.parametrize(
    ("shape", "parsed"),
    [([10980, 10980], (10980, 10980)), ([5490, 4000], (5490, 4000)), (None, None),
     ([10980], None), ([0, 10], None), (["10980", "10980"], None), ([True, 3], None),
     ([1.5, 2], None), ({"a": 1}, None)],
)  # fmt: skip
def test_an_asset_s_shape_is_taken_from_proj_shape_when_it_is_two_sizes(shape, parsed):
    item = {
        "id": "x", "collection": "sentinel-2-l2a",
        "properties": {"datetime": "2025-06-13T10:56:19Z"},
        "assets": {"B04_10m": {"href": "s3://eodata/a/B04_10m.jp2", "type": "image/jp2",
                               "roles": ["data"], "proj:shape": shape}},
    }  # fmt: skip
    (asset,) = scene_from_item(item).assets
    assert asset.shape == parsed
