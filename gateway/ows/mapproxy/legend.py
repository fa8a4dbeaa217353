"""Legend pictures of styles: a ramp with its value labels, or one swatch per class."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gateway.core.render import apply_style
from gateway.core.styles import Style

RAMP_HEIGHT = 200
BAR_WIDTH = 20
ROW = 18
WIDTH = 240
LABEL_GAP = 12  # px between value labels at least

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


def _label(value: float) -> str:
    return f"{value:g}"


def legend_image(style: Style, title: str, band_names: tuple[str, ...] = ()) -> Image.Image:
    """An RGBA legend: the title, then the style's colours with value (or class) labels."""
    font: Font = ImageFont.load_default()
    if style.kind == "ramp":
        return _ramp(style, title, font)
    if style.kind == "classes":
        rows = [(s.rgba, style.labels.get(_label(s.value), _label(s.value))) for s in style.stops]
        return _rows(rows, title, font)
    names = band_names if len(band_names) == 3 else ("red", "green", "blue")
    colours = ((255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255))
    lo = 0.0 if style.min is None else style.min
    hi = 1.0 if style.max is None else style.max
    rows = [
        (c, f"{name} {_label(lo)} to {_label(hi)}") for c, name in zip(colours, names, strict=True)
    ]
    return _rows(rows, title, font)


def _ramp(style: Style, title: str, font: Font) -> Image.Image:
    lo = style.stops[0].value if style.min is None else style.min
    hi = style.stops[-1].value if style.max is None else style.max
    top = ROW + 4
    image = Image.new("RGBA", (WIDTH, top + RAMP_HEIGHT + 8), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), title, fill=(0, 0, 0, 255), font=font)
    # Highest value at the top of the bar.
    values = np.linspace(hi, lo, RAMP_HEIGHT, dtype=np.float32)
    column = values[np.newaxis, :, np.newaxis].repeat(BAR_WIDTH, axis=2)
    bar = apply_style(column, np.ones(column.shape[1:], dtype=bool), style)
    image.paste(Image.fromarray(bar, "RGBA"), (4, top))
    labelled = sorted({lo, hi, *(s.value for s in style.stops if lo <= s.value <= hi)})
    last_y = -LABEL_GAP
    for value in reversed(labelled):
        y = top + round((hi - value) / (hi - lo) * (RAMP_HEIGHT - 1))
        if y - last_y < LABEL_GAP and value != lo:
            continue
        last_y = y
        draw.line([(4 + BAR_WIDTH, y), (8 + BAR_WIDTH, y)], fill=(0, 0, 0, 255))
        draw.text((12 + BAR_WIDTH, max(top, y - 6)), _label(value), fill=(0, 0, 0, 255), font=font)
    return image


def _rows(rows: list[tuple[tuple[int, int, int, int], str]], title: str, font: Font) -> Image.Image:
    image = Image.new("RGBA", (WIDTH, ROW * (len(rows) + 1) + 4), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), title, fill=(0, 0, 0, 255), font=font)
    for index, (colour, text) in enumerate(rows, start=1):
        y = index * ROW + 2
        draw.rectangle([(4, y), (4 + BAR_WIDTH, y + ROW - 4)], fill=colour, outline=(0, 0, 0, 255))
        draw.text((10 + BAR_WIDTH, y + 1), text, fill=(0, 0, 0, 255), font=font)
    return image
