"""Compare image encoders on an NDVI-styled tile (256 and 512 px).

Run from the repository root: ``.venv/bin/python -m bench.bench_encode [--repeat N]``.
Prints the median time of styling and of each encoder, with the size of its output: the
gateway's palette PNG path, then encoders of the RGBA tile. imagecodecs is optional (not a
project dependency): its rows appear only when it can be imported.

The tile is a synthetic NDVI field: smooth fields and parcels plus sensor-like noise, with a
no-data corner (a scene edge), so that compression behaves roughly as on real imagery.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from io import BytesIO
from typing import Any

import numpy as np
from PIL import Image
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from gateway.core.render import Paletted, apply_style, colorize, encode_image
from gateway.core.styles import ColorStop, Style

NDVI = Style(
    name="ndvi",
    kind="ramp",
    stops=[
        ColorStop(value=v, color=c)
        for v, c in [
            (-0.2, "#bfbfbf"),
            (0.0, "#eaeaea"),
            (0.1, "#ccc682"),
            (0.2, "#91bf51"),
            (0.4, "#4f892d"),
            (0.6, "#0f540a"),
            (1.0, "#004400"),
        ]
    ],
)


def ndvi_tile(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (1, size, size) float32 NDVI-like field and its valid mask."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    smooth = 0.35 + 0.25 * np.sin(6 * x + 2 * y) * np.cos(5 * y - x)
    parcels = rng.uniform(-0.15, 0.35, (16, 16))[(y * 16).astype(int), (x * 16).astype(int)]
    ndvi = smooth + parcels + rng.normal(0.0, 0.03, (size, size))
    valid = x + y < 1.6  # a scene edge across one corner
    return ndvi[np.newaxis].astype(np.float32), valid


def _pillow_png(rgba: np.ndarray, **options: object) -> bytes:
    out = BytesIO()
    Image.fromarray(rgba).save(out, "PNG", **options)
    return out.getvalue()


def _gdal_png(rgba: np.ndarray, zlevel: int) -> bytes:
    height, width, _ = rgba.shape
    with warnings.catch_warnings(), MemoryFile() as memory:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with memory.open(
            driver="PNG", width=width, height=height, count=4, dtype="uint8", ZLEVEL=zlevel
        ) as dataset:
            dataset.write(np.moveaxis(rgba, 2, 0))
        return bytes(memory.getbuffer())


# What an encoder returns (imagecodecs' encoders are typed as any bytes-like object).
Encoded = bytes | bytearray | memoryview


def encoders() -> dict[str, Callable[[np.ndarray], Encoded]]:
    """Name -> function(rgba) -> bytes (the gateway's own palette path is timed apart)."""
    found: dict[str, Callable[[np.ndarray], Encoded]] = {
        "gateway encode_image png (RGBA)": lambda a: encode_image(a, "png"),
        "pillow png level 1": lambda a: _pillow_png(a, compress_level=1),
        "pillow png level 6 (default)": lambda a: _pillow_png(a, compress_level=6),
        "pillow png level 1, Z_RLE": lambda a: _pillow_png(a, compress_level=1, compress_type=3),
        "pillow png optimize=True": lambda a: _pillow_png(a, optimize=True),
        "gdal png ZLEVEL=6 (default)": lambda a: _gdal_png(a, 6),
        "gdal png ZLEVEL=1": lambda a: _gdal_png(a, 1),
    }
    try:
        import imagecodecs
    except ImportError:
        pass
    else:
        found |= {
            "imagecodecs png level 1": lambda a: imagecodecs.png_encode(a, level=1),
            "imagecodecs png 1, RLE, SUB": lambda a: imagecodecs.png_encode(
                a, level=1, strategy=3, filter=16
            ),
            "imagecodecs spng level 1": lambda a: imagecodecs.spng_encode(a, level=1),
        }
    found |= {
        "gateway encode_image jpeg (RGBA)": lambda a: encode_image(a, "jpeg"),
        "gateway encode_image webp (RGBA)": lambda a: encode_image(a, "webp"),
    }
    return found


def median_ms(function: Callable[[], object], repeat: int) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    tiles = {size: ndvi_tile(size) for size in (256, 512)}
    rgba = {size: apply_style(data, valid, NDVI) for size, (data, valid) in tiles.items()}
    paletted = {size: colorize(data, valid, NDVI) for size, (data, valid) in tiles.items()}
    print(f"{'':34} {'256 px':>18} {'512 px':>18}")
    print(f"{'':34} {'ms':>8} {'KiB':>9} {'ms':>8} {'KiB':>9}")
    styling: dict[str, Callable[[np.ndarray, np.ndarray], object]] = {
        "colorize (ndvi ramp -> palette)": lambda d, v: colorize(d, v, NDVI),
        "apply_style (ndvi ramp -> RGBA)": lambda d, v: apply_style(d, v, NDVI),
    }
    for name, style_it in styling.items():
        cells = [
            f"{median_ms(partial(style_it, *tile), args.repeat):8.2f} {'':>9}"
            for tile in tiles.values()
        ]
        print(f"{name:34} " + " ".join(cells))
    # name -> (encoder, size -> image): palette images for the first, RGBA for the others
    rows: dict[str, tuple[Callable[[Any], Encoded], Mapping[int, np.ndarray | Paletted]]] = {
        "gateway encode_image png (palette)": (lambda p: encode_image(p, "png"), paletted)
    }
    rows |= {name: (encode, rgba) for name, encode in encoders().items()}
    for name, (encode, images) in rows.items():
        cells = []
        for image in images.values():
            elapsed = median_ms(partial(encode, image), args.repeat)
            cells.append(f"{elapsed:8.2f} {len(encode(image)) / 1024:9.1f}")
        print(f"{name:34} " + " ".join(cells))


if __name__ == "__main__":
    main()
