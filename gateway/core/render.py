"""Turn band-math results into pictures and files: colour maps, stretch, PNG/JPEG/WebP/GeoTIFF/COG.

Inputs are float32 arrays ``data (n, h, w)`` with a bool ``valid (h, w)`` mask; non-finite
values count as invalid too.

``colorize`` gives ramps and classes as a ``Paletted`` image (uint8 indices into at most 256
RGBA colours) and RGB composites as uint8 RGBA ``(h, w, 4)``; ``apply_style`` always gives RGBA.
``encode_image`` writes a ``Paletted`` image as an 8-bit palette PNG with a tRNS chunk: about
5x faster to encode and half the size of an RGBA PNG (bench/bench_encode.py).

Ramps use ``RAMP_COLOURS`` = 255 colours sampled evenly over the stretch domain ``[lo, hi]``
(the style's ``min``/``max``, else its first and last stop); palette entry 255 is transparent.
A value is rounded to the nearest colour, so the value error is at most ``(hi - lo) / 508``:
0.0024 for NDVI's -0.2..1, i.e. at most 3 colour levels on NDVI's steepest segment (0..0.025)
and under 1 level on most of it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Literal

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.crs import CRS
from rasterio.io import DatasetReader, MemoryFile

from gateway.core.phases import ENCODE, timed
from gateway.core.styles import Style
from gateway.errors import InvalidParameterValue

RAMP_COLOURS = 255
OverviewResampling = Literal["nearest", "bilinear", "cubic", "average"]  # rio-cogeo takes these
PNG_COMPRESS_LEVEL = 1  # zlib level 1: see bench/bench_encode.py (about 3x faster than 6)
JPEG_QUALITY = 85  # without Sentinel Hub's QUALITY
WEBP_QUALITY = 85
WEBP_METHOD = 2  # 0 (fast) .. 6 (small)

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "tiff": "image/tiff; application=geotiff",
    "cog": "image/tiff; application=geotiff; profile=cloud-optimized",
}
IMAGE_FORMATS = frozenset({"png", "jpeg", "webp"})
LOSSY_FORMATS = frozenset({"jpeg", "webp"})  # the ones a quality applies to

_FORMAT_ALIASES: dict[str, str] = {
    "png": "png",
    "image/png": "png",
    "image/png8": "png",
    "jpeg": "jpeg",
    "jpg": "jpeg",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "webp": "webp",
    "image/webp": "webp",
    "tiff": "tiff",
    "tif": "tiff",
    "geotiff": "tiff",
    "image/tiff": "tiff",
    "image/geotiff": "tiff",
    "image/geo+tiff": "tiff",
    "image/tiff;application=geotiff": "tiff",
    "image/x-geotiff": "tiff",
    "cog": "cog",
    "image/tiff;application=geotiff;profile=cloud-optimized": "cog",
}


def parse_format(text: str, allowed: Collection[str] | None = None) -> str:
    """A format key (``png``, ``jpeg``, ``webp``, ``tiff``, ``cog``) from a media type or name.

    Case and spaces around ``;`` do not matter. Raises InvalidParameterValue (locator
    ``format``) for anything unknown or outside ``allowed``.
    """
    normalised = ";".join(part.strip() for part in text.strip().lower().split(";"))
    key = _FORMAT_ALIASES.get(normalised)
    if key is None or (allowed is not None and key not in allowed):
        raise InvalidParameterValue(f"unsupported format {text[:60]!r}", locator="format")
    return key


@dataclass(frozen=True)
class Paletted:
    """An image as ``index (h, w) uint8`` into ``palette (k <= 256, 4) uint8`` RGBA colours."""

    index: np.ndarray
    palette: np.ndarray

    def rgba(self) -> np.ndarray:
        """The uint8 RGBA ``(h, w, 4)`` image."""
        return _gather(self.palette, self.index)


def check_style_bands(style: Style, bands: int, locator: str = "styles") -> None:
    """InvalidParameterValue unless ``style`` can show ``bands`` bands (rgb: 1 or 3, else 1)."""
    wanted = (1, 3) if style.kind == "rgb" else (1,)
    if bands not in wanted:
        raise InvalidParameterValue(
            f"style {style.name!r} shows {' or '.join(map(str, wanted))} band(s), not {bands}",
            locator=locator,
        )


def colorize(data: np.ndarray, valid: np.ndarray, style: Style) -> Paletted | np.ndarray:
    """Colour ``data (n, h, w)`` with ``style``: Paletted for ramp/classes, else RGBA.

    Invalid or non-finite pixels are transparent (alpha 0). A band count the style cannot
    show raises InvalidParameterValue (locator ``styles``).
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[np.newaxis]
    check_style_bands(style, data.shape[0] if data.ndim == 3 else 0)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(data).all(axis=0)
    if style.kind == "rgb":
        return _apply_rgb(data, ok, style)
    if style.kind == "classes":
        return _apply_classes(data[0], ok, style)
    return _apply_ramp(data[0], ok, style)


def apply_style(data: np.ndarray, valid: np.ndarray, style: Style) -> np.ndarray:
    """Colour ``data (n, h, w)`` with ``style`` -> uint8 RGBA ``(h, w, 4)``; invalid -> alpha 0."""
    image = colorize(data, valid, style)
    return image.rgba() if isinstance(image, Paletted) else image


def _gather(lut: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``lut (k, 4) uint8`` rows picked by ``index (h, w)`` -> ``(h, w, 4)``, one uint32 each."""
    words = np.ascontiguousarray(lut, dtype=np.uint8).view(np.uint32).ravel()
    return words[index].view(np.uint8).reshape(*index.shape, 4)


def _ramp_palette(style: Style) -> np.ndarray:
    """``RAMP_COLOURS`` RGBA colours over the stretch domain, then one transparent entry."""
    positions = np.linspace(0.0, 1.0, RAMP_COLOURS)
    if style.gamma != 1.0:
        positions = positions ** (1.0 / style.gamma)
    first, last = style.stops[0].value, style.stops[-1].value
    values = first + positions * (last - first)
    xp = [stop.value for stop in style.stops]
    colours = np.array([stop.rgba for stop in style.stops], dtype=np.float64)
    palette = np.zeros((RAMP_COLOURS + 1, 4), dtype=np.uint8)
    for channel in range(4):
        palette[:RAMP_COLOURS, channel] = np.rint(np.interp(values, xp, colours[:, channel]))
    palette.flags.writeable = False
    return palette


@functools.lru_cache(maxsize=128)
def _cached_ramp_palette(style_json: str) -> np.ndarray:
    """One read-only palette per distinct style (keyed by its JSON)."""
    return _ramp_palette(Style.model_validate_json(style_json))


def _apply_ramp(band: np.ndarray, ok: np.ndarray, style: Style) -> Paletted:
    lo = style.stops[0].value if style.min is None else style.min
    hi = style.stops[-1].value if style.max is None else style.max
    scaled = band - np.float32(lo)
    scaled *= np.float32((RAMP_COLOURS - 1) / (hi - lo))
    scaled += np.float32(0.5)  # truncation below then rounds half up
    np.clip(scaled, 0, RAMP_COLOURS - 1, out=scaled)
    np.copyto(scaled, RAMP_COLOURS, where=~ok)  # the transparent entry; also drops NaN
    palette = _cached_ramp_palette(style.model_dump_json())
    return Paletted(scaled.astype(np.uint8), palette)


def _apply_classes(band: np.ndarray, ok: np.ndarray, style: Style) -> Paletted:
    stops = sorted(style.stops, key=lambda stop: stop.value)
    count = len(stops)  # palette entry `count` is transparent: no class
    palette = np.zeros((count + 1, 4), dtype=np.uint8)
    palette[:count] = [stop.rgba for stop in stops]
    values = np.array([stop.value for stop in stops], dtype=np.float32)
    if all(stop.value.is_integer() and 0 <= stop.value <= 255 for stop in stops):
        # Small integer classes (SCL): value v -> slot[v + 1]; -1 stands for "no class".
        slot = np.full(258, count, dtype=np.uint8)
        slot[values.astype(np.intp) + 1] = np.arange(count)
        clipped = np.clip(np.where(ok, band, np.float32(-1)), -1, 256)
        whole = clipped.astype(np.int16)
        np.copyto(whole, -1, where=whole != clipped)
        return Paletted(slot[whole + 1], palette)
    position = np.searchsorted(values, band).clip(0, count - 1)
    matched = ok & (values[position] == band)
    return Paletted(np.where(matched, position, count).astype(np.uint8), palette)


def _apply_rgb(data: np.ndarray, ok: np.ndarray, style: Style) -> np.ndarray:
    lo = 0.0 if style.min is None else style.min
    hi = 1.0 if style.max is None else style.max
    height, width = ok.shape
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    for channel in range(3):
        band = data[min(channel, data.shape[0] - 1)]
        scaled = band - np.float32(lo)
        scaled *= np.float32(1.0 / (hi - lo))
        np.clip(scaled, 0, 1, out=scaled)
        np.copyto(scaled, 0, where=~ok)
        if style.gamma != 1.0:
            np.power(scaled, np.float32(1.0 / style.gamma), out=scaled)
        scaled *= np.float32(255)
        scaled += np.float32(0.5)
        rgba[..., channel] = scaled
    rgba[..., 3] = np.where(ok, 255, 0)
    return rgba


def _composite(rgba: np.ndarray, bgcolor: tuple[int, int, int]) -> np.ndarray:
    """RGBA over an opaque background -> RGB (exact for alpha 0 and 255)."""
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    background = np.asarray(bgcolor, dtype=np.uint16)
    a = alpha[..., np.newaxis].astype(np.uint16)
    mixed = rgba[..., :3].astype(np.uint16) * a + background * (255 - a) + 127
    return (mixed // 255).astype(np.uint8)


def _opaque_palette(palette: np.ndarray, bgcolor: tuple[int, int, int]) -> np.ndarray:
    """The palette composited on ``bgcolor``, alpha 255 everywhere."""
    opaque = np.full_like(palette, 255)
    opaque[:, :3] = _composite(palette[np.newaxis], bgcolor)[0]
    return opaque


def _palette_png(image: Paletted, transparent: bool) -> bytes:
    height, width = image.index.shape
    picture = Image.frombytes("P", (width, height), np.ascontiguousarray(image.index).tobytes())
    picture.putpalette(np.ascontiguousarray(image.palette[:, :3]).tobytes(), "RGB")
    options: dict[str, object] = {"compress_level": PNG_COMPRESS_LEVEL}
    if transparent and image.palette[:, 3].min() < 255:
        options["transparency"] = image.palette[:, 3].tobytes()
    out = BytesIO()
    picture.save(out, "PNG", **options)
    return out.getvalue()


@timed(ENCODE)
def encode_image(
    image: np.ndarray | Paletted,
    fmt: str,
    *,
    transparent: bool = True,
    bgcolor: tuple[int, int, int] = (255, 255, 255),
    quality: int | None = None,
) -> bytes:
    """Encode uint8 RGBA ``(h, w, 4)`` or a Paletted image as ``png``, ``jpeg`` or ``webp``.

    JPEG, and PNG/WebP with ``transparent=False``, are composited on ``bgcolor`` (no alpha).
    ``quality`` (0-100) is a JPEG's or WebP's (``JPEG_QUALITY``, ``WEBP_QUALITY`` without).
    A Paletted image becomes an 8-bit palette PNG (with tRNS when transparent); an opaque RGBA
    image becomes an RGB PNG.
    """
    if fmt not in IMAGE_FORMATS:
        raise InvalidParameterValue(f"unsupported image format {fmt[:20]!r}", locator="format")
    transparent = transparent and fmt != "jpeg"
    if isinstance(image, Paletted):
        if not transparent:
            image = Paletted(image.index, _opaque_palette(image.palette, bgcolor))
        if fmt == "png":
            return _palette_png(image, transparent)
        image = image.rgba()
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 4:
        raise ValueError("encode_image wants a uint8 (h, w, 4) array")
    keep_alpha = transparent and image[..., 3].min() < 255
    picture = Image.fromarray(
        np.ascontiguousarray(image if keep_alpha else _composite(image, bgcolor))
    )
    out = BytesIO()
    if fmt == "png":
        picture.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif fmt == "jpeg":
        picture.save(out, "JPEG", quality=JPEG_QUALITY if quality is None else quality)
    else:
        webp_quality = WEBP_QUALITY if quality is None else quality
        picture.save(out, "WEBP", quality=webp_quality, method=WEBP_METHOD)
    return out.getvalue()


def encode_again(
    content: bytes,
    fmt: str,
    *,
    quality: int | None = None,
    transparent: bool = True,
    bgcolor: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """A picture (any format Pillow reads; a lossless one keeps every pixel) encoded again
    by ``encode_image``."""
    with Image.open(BytesIO(content)) as picture:
        rgba = np.asarray(picture.convert("RGBA"))
    return encode_image(rgba, fmt, transparent=transparent, bgcolor=bgcolor, quality=quality)


@timed(ENCODE)
def encode_geotiff(
    data: np.ndarray,
    valid: np.ndarray,
    *,
    crs: CRS,
    transform: Affine,
    nodata: float = float("nan"),
    cog: bool = False,
    band_names: Sequence[str] = (),
    overview_resampling: OverviewResampling = "nearest",
) -> bytes:
    """Float32 GeoTIFF (DEFLATE, floating-point predictor) of ``data (n, h, w)``.

    Invalid or non-finite pixels become ``nodata``; ``band_names`` become band descriptions.
    ``cog=True`` writes a Cloud Optimized GeoTIFF with rio-cogeo, with overviews when the image
    is larger than one 256 px block (use ``overview_resampling="average"`` for continuous data).
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[np.newaxis]
    count, height, width = data.shape
    ok = np.asarray(valid, dtype=bool)[np.newaxis] & np.isfinite(data)
    pixels = np.where(ok, data, np.float32(nodata)).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": count,
        "height": height,
        "width": width,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    if not cog:
        profile |= {"compress": "deflate", "predictor": 3}
        if width >= 256 and height >= 256:
            profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256}
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(pixels)
            for index, name in enumerate(band_names[:count], start=1):
                dataset.set_band_description(index, name)
        if not cog:
            return bytes(memory.getbuffer())
        with memory.open() as source:
            return _cog_bytes(source, overview_resampling)


class _PredictorNoticeFilter(logging.Filter):
    """Drops GDAL's notice about rio-cogeo's uncompressed temporary file keeping PREDICTOR."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "PREDICTOR option is ignored" not in record.getMessage()


@functools.cache
def _quiet_predictor_notice() -> None:
    logging.getLogger("rasterio._env").addFilter(_PredictorNoticeFilter())


def _cog_bytes(source: DatasetReader, overview_resampling: OverviewResampling) -> bytes:
    # rio-cogeo (and morecantile) load only for COG exports.
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    _quiet_predictor_notice()
    profile = cog_profiles.get("deflate")
    profile.update(predictor=3, blockxsize=256, blockysize=256)  # predictor: 12% smaller
    with MemoryFile() as target:
        cog_translate(
            source,
            target.name,
            profile,
            in_memory=True,
            quiet=True,
            overview_resampling=overview_resampling,
        )
        return bytes(target.getbuffer())
