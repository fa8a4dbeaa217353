"""Tile-part indexes of JPEG 2000 files, as TLM marker segments spliced into the file.

A JPEG 2000 code-stream without a TLM marker (Sentinel-2 before processing baseline 05.12)
does not say where its tiles are: OpenJPEG finds tile n by reading the header of each
tile-part before it, a range request each from S3 (about 60 for a tile in the middle of a
10 m band, in every process that opens the file). ``index_file`` makes that walk once, all
of it (12 bytes a read), and returns a ``Splice``: the file's first bytes up to its first
tile-part with TLM marker segments listing every tile-part added to the main header. Opened
with it (``gateway.core.spliced``), OpenJPEG (2.5.3 and later) seeks straight to the
tile-parts a window needs (from the S3 stand-in: a window of the last tile of a 10,980 px
band 3 GETs instead of 122; ``bench/bench_jp2index.py``).

A file that has a TLM marker already, fewer than ``MIN_TILES`` tiles, or a code-stream not
as expected needs no splice (None, or NotIndexable).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

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
    def from_bytes(cls, value: bytes) -> Splice | None:
        """The splice ``to_bytes`` wrote; None for bytes of another format."""
        if not value.startswith(_MAGIC) or len(value) < 20:
            return None
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
