"""Tile-part indexes of remote JPEG 2000 files, handed to OpenJPEG as a TLM marker.

A JPEG 2000 code-stream without a TLM marker (Sentinel-2 before processing baseline 05.12)
does not say where its tiles are: OpenJPEG finds tile n by reading the header of each
tile-part before it, a range request each from S3 (about 60 for a tile in the middle of a
10 m band, in every process that opens the file). The index is that walk done once per file,
all of it (12 bytes a request), and kept in the cache every process shares (Redis). The file
is then opened through GDAL's ``/vsisparse/``: its first bytes up to the first tile-part
come from memory with a TLM marker segment built from the index added to the main header,
the rest from S3 as it is. OpenJPEG (2.5.3 and later) seeks straight to the tile-parts a
window needs (measured from the S3 stand-in: a window of the last tile of an 8,192 px band
3 GETs instead of 65; ``bench/bench_jp2index.py``).

A file that has a TLM marker already, few tiles (``MIN_TILES``) or a code-stream not as
expected is opened as it is. S3 objects are immutable under their key (CDSE's products are
never rewritten in place), so an index is kept for ``ttl_s`` and never checked against the
file again.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from rasterio.io import MemoryFile

from gateway.core.cache import Cache, make_key

# (offset, length) -> the bytes, and the object's whole size.
RangeReader = Callable[[int, int], tuple[bytes, int]]

HEAD_BYTES = 16384  # the first read: boxes and main header (Sentinel-2's: about 3 kB)
MAX_HEAD_BYTES = 2**20  # a main header beyond this is not indexed
MAX_TILE_PARTS = 16384  # a walk of more (a 10 m Sentinel-2 band has 121) is not made
# A file of fewer tiles is opened as it is: OpenJPEG's walk through it is a few reads, the
# index as many (Sentinel-2's 60 m bands have 4 tiles, the 20 m ones 36).
MIN_TILES = 16
SENTINEL2_TILE = 1024
_SOT = 0xFF90
_EOC = 0xFFD9
_TLM = 0xFF55
_SIZ = 0xFF51
_TLM_ENTRIES = (0xFFFF - 4) // 6  # per marker segment: Ttlm 16 bits, Ptlm 32 bits
_PLAIN = b"plain"
_MAGIC = b"tlm1"


class NotIndexable(ValueError):
    """The file is not a JPEG 2000 code-stream this module can index."""


@dataclass(frozen=True)
class Layout:
    """Where the code-stream lies in a JP2 file: its ``jp2c`` box (None for a bare
    code-stream), the first tile-part (the end of the main header) and the code-stream's end."""

    box_at: int | None
    box_length: int  # the box's LBox/XLBox (0: to the end of the file)
    box_header: int  # 8, or 16 with an XLBox
    first_sot: int
    end: int  # the code-stream's last byte + 1 (its EOC marker's end)
    has_tlm: bool
    tiles: int  # as the SIZ marker segment says


def read_layout(head: bytes, size: int) -> Layout | None:
    """The layout of a file of ``size`` bytes from its first bytes ``head``; None when the
    main header does not end within them. Raises NotIndexable for what is not JPEG 2000."""
    box_at: int | None = None
    box_length, box_header, start = 0, 0, 0
    if head[:2] != b"\xff\x4f":
        pos = 0
        while True:
            if pos + 8 > len(head):
                return None
            length, kind = struct.unpack(">I4s", head[pos : pos + 8])
            header = 8
            if length == 1:
                if pos + 16 > len(head):
                    return None
                (length,) = struct.unpack(">Q", head[pos + 8 : pos + 16])
                header = 16
            if kind == b"jp2c":
                box_at, box_length, box_header = pos, length, header
                start = pos + header
                break
            if length < header or (pos == 0 and kind != b"jP  "):
                raise NotIndexable("not a JP2 file")
            pos += length
    end = box_at + box_length if box_at is not None and box_length else size
    if head[start : start + 2] != b"\xff\x4f" and len(head) >= start + 2:
        raise NotIndexable("no SOC marker where the code-stream starts")
    pos, has_tlm, tiles = start + 2, False, 0
    while True:
        if pos + 4 > len(head):
            return None
        marker, length = struct.unpack(">HH", head[pos : pos + 4])
        if marker == _SOT:
            if not tiles:
                raise NotIndexable("no SIZ marker segment")
            return Layout(box_at, box_length, box_header, pos, min(end, size), has_tlm, tiles)
        if marker >> 8 != 0xFF or length < 2:
            raise NotIndexable(f"not a marker segment at byte {pos}")
        if marker == _SIZ and pos + 38 <= len(head):
            tiles = _tile_count(head[pos + 6 : pos + 38])
        has_tlm |= marker == _TLM
        pos += 2 + length


def _tile_count(siz: bytes) -> int:
    """Tiles of the image from SIZ's Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz."""
    width, height, _, _, tile_w, tile_h, tx0, ty0 = struct.unpack(">8I", siz)
    if not tile_w or not tile_h:
        raise NotIndexable("tiles of no size")
    return -(-(width - tx0) // tile_w) * -(-(height - ty0) // tile_h)


def walk_tile_parts(read: RangeReader, layout: Layout) -> list[tuple[int, int]]:
    """(tile index, length) of each tile-part in code-stream order, read from each SOT
    marker segment (12 bytes) to the next."""
    parts: list[tuple[int, int]] = []
    pos = layout.first_sot
    while pos < layout.end - 2:
        if len(parts) >= MAX_TILE_PARTS:
            raise NotIndexable(f"more than {MAX_TILE_PARTS} tile-parts")
        data, _ = read(pos, 12)
        if len(data) < 12:
            raise NotIndexable(f"the file ends in a tile-part header at byte {pos}")
        marker, _, tile, length, _, _ = struct.unpack(">HHHIBB", data)
        if marker == _EOC:
            break
        if marker != _SOT:
            raise NotIndexable(f"no SOT marker at byte {pos}")
        if length == 0:  # the last tile-part: to the EOC marker
            length = layout.end - 2 - pos
        if length < 14 or pos + length > layout.end:
            raise NotIndexable(f"a tile-part of {length} bytes at byte {pos}")
        parts.append((tile, length))
        pos += length
    if not parts:
        raise NotIndexable("no tile-part")
    return parts


def tlm_segments(parts: list[tuple[int, int]]) -> bytes:
    """TLM marker segments listing ``parts`` (Stlm 0x60: 16-bit tile index, 32-bit length)."""
    out = bytearray()
    for index, first in enumerate(range(0, len(parts), _TLM_ENTRIES)):
        chunk = parts[first : first + _TLM_ENTRIES]
        out += struct.pack(">HHBB", _TLM, 4 + 6 * len(chunk), index % 256, 0x60)
        for tile, length in chunk:
            out += struct.pack(">HI", tile, length)
    return bytes(out)


@dataclass(frozen=True)
class Splice:
    """A file as opened with its index: ``head`` (its first ``insert_at`` bytes, the
    ``jp2c`` box's length grown by the TLM segments, then those segments), the rest of the
    file from ``insert_at`` on as it is; ``size`` is the file's own."""

    head: bytes
    insert_at: int
    size: int

    def to_bytes(self) -> bytes:
        return _MAGIC + struct.pack(">QQ", self.insert_at, self.size) + self.head

    @classmethod
    def from_bytes(cls, value: bytes) -> Splice:
        insert_at, size = struct.unpack(">QQ", value[4:20])
        return cls(value[20:], insert_at, size)


def splice(head: bytes, layout: Layout, parts: list[tuple[int, int]], size: int) -> Splice:
    """``head`` with TLM segments for ``parts`` added before the first tile-part."""
    tlm = tlm_segments(parts)
    patched = bytearray(head[: layout.first_sot])
    if layout.box_at is not None and layout.box_length:
        at = layout.box_at + (8 if layout.box_header == 16 else 0)
        form = ">Q" if layout.box_header == 16 else ">I"
        grown = layout.box_length + len(tlm)
        if layout.box_header == 8 and grown >= 2**32:
            raise NotIndexable("the code-stream box would outgrow its length field")
        patched[at : at + struct.calcsize(form)] = struct.pack(form, grown)
    return Splice(bytes(patched) + tlm, layout.first_sot, size)


def index_file(read: RangeReader, min_tiles: int = MIN_TILES) -> Splice | None:
    """The splice of the file ``read`` reads; None when it has a TLM marker already or fewer
    than ``min_tiles`` tiles. Raises NotIndexable, or what ``read`` raises."""
    head, size = read(0, HEAD_BYTES)
    layout = read_layout(head, size)
    if layout is None and len(head) < min(size, MAX_HEAD_BYTES):
        head, size = read(0, MAX_HEAD_BYTES)
        layout = read_layout(head, size)
    if layout is None:
        raise NotIndexable("no tile-part within the first MB")
    if layout.has_tlm or layout.tiles < min_tiles:
        return None
    return splice(head, layout, walk_tile_parts(read, layout), size)


class _Opened:
    """A splice's in-memory files, kept while its path may be opened."""

    def __init__(self, path: str, spliced: Splice) -> None:
        name = hashlib.sha256(path.encode()).hexdigest()[:16]
        self.head = MemoryFile(spliced.head, filename=f"{name}.head")
        tail = spliced.size - spliced.insert_at
        xml = (
            "<VSISparseFile>"
            f"<Length>{len(spliced.head) + tail}</Length>"
            f'<SubfileRegion><Filename relative="0">{escape(self.head.name)}</Filename>'
            "<DestinationOffset>0</DestinationOffset><SourceOffset>0</SourceOffset>"
            f"<RegionLength>{len(spliced.head)}</RegionLength></SubfileRegion>"
            f'<SubfileRegion><Filename relative="0">{escape(path)}</Filename>'
            f"<DestinationOffset>{len(spliced.head)}</DestinationOffset>"
            f"<SourceOffset>{spliced.insert_at}</SourceOffset>"
            f"<RegionLength>{tail}</RegionLength></SubfileRegion>"
            "</VSISparseFile>"
        )
        self.description = MemoryFile(xml.encode(), filename=f"{name}.xml")
        self.path = "/vsisparse/" + self.description.name

    def close(self) -> None:
        self.description.close()
        self.head.close()


class TilePartIndexes:
    """Remote JPEG 2000 files' indexes: in ``cache`` (shared by the processes), and the
    spliced files of the last ``max_files`` in this process.

    ``opened(path)`` is the path to open for ``path`` when its index is known (the file's own
    path when it needs none), None when it must be made (``make``): by one process at a time,
    the others waiting for it (``wait_s`` at most) under the cache's lock.
    """

    def __init__(
        self,
        cache: Cache | None,
        ttl_s: int = 30 * 86400,
        max_files: int = 512,
        wait_s: float = 20.0,
        min_tiles: int = MIN_TILES,
    ) -> None:
        self._cache = cache
        self._min_tiles = min_tiles
        self._wait_s = wait_s
        self._ttl_ms = ttl_s * 1000
        self._max_files = max_files
        self._files: OrderedDict[str, _Opened | None] = OrderedDict()  # None: open as it is
        self._lock = threading.Lock()
        self._making: dict[str, threading.Lock] = {}

    def applies(self, path: str, shape: tuple[int, int] | None = None) -> bool:
        """Whether ``path`` is a file to index: a JPEG 2000 file on S3 that may have
        ``min_tiles`` tiles of Sentinel-2's 1024 px by its ``shape`` (rows, columns; None:
        unknown, its header tells). A smaller one is opened as it is without a look."""
        if not (path.startswith("/vsis3/") and path.lower().endswith((".jp2", ".j2k"))):
            return False
        return shape is None or shape[0] * shape[1] >= self._min_tiles * SENTINEL2_TILE**2

    def opened(self, path: str) -> str | None:
        """The path to open for ``path``, or None when its index is not known yet."""
        with self._lock:
            if path in self._files:
                self._files.move_to_end(path)
                known = self._files[path]
                return known.path if known is not None else path
        value = self._cache.get(self._key(path)) if self._cache is not None else None
        if value == _PLAIN:
            return self._remember(path, None)
        if value is None or not value.startswith(_MAGIC):  # not one of ours: made again
            return None
        return self._remember(path, Splice.from_bytes(value))

    def make(self, path: str, read: RangeReader) -> str:
        """Index ``path`` through ``read`` (once in this process however many ask at once),
        keep it, and return the path to open. A file that cannot be indexed is opened as it
        is; what ``read`` raises goes to the caller."""
        with self._lock:
            making = self._making.setdefault(path, threading.Lock())
        try:
            with making:
                return self.opened(path) or self._made_elsewhere(path) or self._make(path, read)
        finally:
            with self._lock:
                self._making.pop(path, None)

    def _make(self, path: str, read: RangeReader) -> str:
        """Index ``path`` now (holding the cache's lock on it), keep and remember it."""
        try:
            try:
                spliced = index_file(read, self._min_tiles)
            except NotIndexable:
                spliced = None
            if self._cache is not None:
                value = spliced.to_bytes() if spliced is not None else _PLAIN
                self._cache.set(self._key(path), value, self._ttl_ms)
        finally:
            if self._cache is not None:
                self._cache.release_lock(self._key(path))
        return self._remember(path, spliced)

    def _made_elsewhere(self, path: str) -> str | None:
        """Take the cache's lock on indexing ``path`` (None: this process makes it), or wait
        for the process holding it to keep the index (``wait_s`` at most; then None: made
        here too)."""
        cache = self._cache
        if cache is None:
            return None
        key = self._key(path)
        deadline = time.monotonic() + self._wait_s
        while not cache.acquire_lock(key, int(self._wait_s * 1000)):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
            known = self.opened(path)
            if known is not None:
                return known
        known = self.opened(path)  # kept between our look and the lock
        if known is not None:
            cache.release_lock(key)
        return known

    def file_of(self, opened: str) -> str:
        """The file a path given by ``opened`` reads (``opened`` itself unless spliced)."""
        with self._lock:
            for path, files in self._files.items():
                if files is not None and files.path == opened:
                    return path
        return opened

    def _remember(self, path: str, spliced: Splice | None) -> str:
        """Keep ``path``'s spliced files (made now unless another thread kept them first:
        a path handed out stays openable while it is among the last ``max_files``)."""
        files = _Opened(path, spliced) if spliced is not None else None
        with self._lock:
            dropped: list[_Opened | None] = []
            if path in self._files:
                dropped.append(files)
                files = self._files[path]
            self._files[path] = files
            self._files.move_to_end(path)
            while len(self._files) > self._max_files:
                dropped.append(self._files.popitem(last=False)[1])
        for item in dropped:
            # A dataset opened through it holds its own handles: closing these is safe.
            if item is not None:
                item.close()
        return files.path if files is not None else path

    @staticmethod
    def _key(path: str) -> str:
        return make_key("jp2-tile-parts", {"path": path})
