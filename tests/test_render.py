"""gateway.core.render: styles, image and GeoTIFF encoding, decoded again and compared."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from PIL import Image
from pydantic import ValidationError
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rio_cogeo.cogeo import cog_validate

from gateway.core.render import (
    MEDIA_TYPES,
    RAMP_COLOURS,
    Paletted,
    apply_style,
    colorize,
    encode_geotiff,
    encode_image,
    parse_format,
)
from gateway.core.styles import Style, parse_color
from gateway.errors import InvalidParameterValue

STYLES_FILE = Path(__file__).resolve().parents[1] / "config" / "styles.yaml"

GREY = Style(
    name="grey",
    kind="ramp",
    stops=[{"value": 0, "color": "#000000"}, {"value": 1, "color": "#ffffff"}],
)
DIVERGING = Style(
    name="diverging",
    kind="ramp",
    stops=[
        {"value": -1, "color": "#ff0000"},
        {"value": 0, "color": "#ffffff80"},
        {"value": 1, "color": "#0000ff"},
    ],
)
TRUE_COLOR = Style(name="tc", kind="rgb", min=0.0, max=0.3, gamma=1.8)


def load_styles() -> dict[str, Style]:
    raw = yaml.safe_load(STYLES_FILE.read_text(encoding="utf-8"))
    return {style.name: style for style in map(Style.model_validate, raw)}


def one_band(values: list[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(values, dtype=np.float32).reshape(1, 1, -1)
    return data, np.ones(data.shape[1:], dtype=bool)


def decode(payload: bytes) -> Image.Image:
    image = Image.open(BytesIO(payload))
    image.load()
    return image


# Ramps -------------------------------------------------------------------------------


def test_ramp_endpoints_are_exact_and_midpoints_within_quantisation() -> None:
    values = np.linspace(0, 1, 101)
    rgba = apply_style(*one_band(values), GREY)[0]
    assert tuple(rgba[0]) == (0, 0, 0, 255)
    assert tuple(rgba[-1]) == (255, 255, 255, 255)
    # Half a palette step in value, plus rounding to a whole colour level.
    tolerance = 255 / (2 * (RAMP_COLOURS - 1)) + 0.5
    assert np.abs(rgba[:, 0].astype(float) - values * 255).max() <= tolerance
    assert (rgba[:, 0] == rgba[:, 1]).all() and (rgba[:, 3] == 255).all()


def test_ramp_interpolates_every_channel_including_alpha() -> None:
    rgba = apply_style(*one_band([-1, -0.5, 0, 0.5, 1]), DIVERGING)[0].astype(int)
    expected = np.array(
        [
            [255, 0, 0, 255],
            [255, 127.5, 127.5, 191.5],
            [255, 255, 255, 128],
            [127.5, 127.5, 255, 191.5],
            [0, 0, 255, 255],
        ]
    )
    # Slope 255 levels per unit here: half a step of 2/254 is ~1 level, plus rounding.
    assert np.abs(rgba - expected).max() <= 1.5


def test_ramp_clamps_outside_the_stops() -> None:
    rgba = apply_style(*one_band([-50, -1.0001, 1.0001, 1e30]), DIVERGING)[0]
    assert [tuple(px) for px in rgba] == [(255, 0, 0, 255)] * 2 + [(0, 0, 255, 255)] * 2


def test_ramp_min_max_and_gamma_stretch_onto_the_stops() -> None:
    style = GREY.model_copy(update={"min": 100.0, "max": 200.0})
    rgba = apply_style(*one_band([50, 100, 150, 200, 300]), style)[0]
    assert list(rgba[:, 0]) == [0, 0, 128, 255, 255]
    bright = GREY.model_copy(update={"gamma": 2.0})
    grey = apply_style(*one_band([0.25]), bright)[0, 0, 0]
    assert abs(int(grey) - 0.5 * 255) <= 2  # 0.25 ** (1 / 2) = 0.5


def test_ndvi_style_matches_its_stops() -> None:
    ndvi = load_styles()["ndvi"]
    values = [stop.value for stop in ndvi.stops]
    rgba = apply_style(*one_band(values), ndvi)[0].astype(int)
    expected = np.array([stop.rgba for stop in ndvi.stops])
    # Steepest segment: 30 levels over 0.025; half a step is 0.0024 -> under 3 levels.
    assert np.abs(rgba - expected).max() <= 3
    assert (rgba[0] == expected[0]).all() and (rgba[-1] == expected[-1]).all()


def test_invalid_and_non_finite_pixels_are_transparent() -> None:
    data = np.array([[[0.1, np.nan, np.inf, 0.7]]], dtype=np.float32)
    valid = np.array([[True, True, True, False]])
    rgba = apply_style(data, valid, GREY)
    assert list(rgba[0, :, 3]) == [255, 0, 0, 0]


def test_colorize_gives_a_palette_for_ramps_and_rgba_for_rgb() -> None:
    data, valid = one_band([0.0, 0.5, 1.0])
    image = colorize(data, valid, GREY)
    assert isinstance(image, Paletted)
    assert image.index.dtype == np.uint8 and image.palette.shape == (RAMP_COLOURS + 1, 4)
    assert (image.rgba() == apply_style(data, valid, GREY)).all()
    rgb = colorize(np.zeros((3, 2, 2), np.float32), np.ones((2, 2), bool), TRUE_COLOR)
    assert isinstance(rgb, np.ndarray) and rgb.shape == (2, 2, 4)


def test_wrong_band_count_is_a_client_error() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        apply_style(np.zeros((3, 2, 2), np.float32), np.ones((2, 2), bool), GREY)
    assert caught.value.locator == "styles"
    with pytest.raises(InvalidParameterValue):
        apply_style(np.zeros((2, 2, 2), np.float32), np.ones((2, 2), bool), TRUE_COLOR)


# RGB and classes ---------------------------------------------------------------------


def test_rgb_stretch_with_gamma_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    data = rng.uniform(-0.05, 0.4, (3, 32, 32)).astype(np.float32)
    valid = rng.random((32, 32)) > 0.1
    rgba = apply_style(data, valid, TRUE_COLOR)
    stretched = np.clip((data.astype(np.float64) - 0.0) / 0.3, 0, 1) ** (1 / 1.8)
    expected = np.rint(stretched * 255).transpose(1, 2, 0)
    diff = np.abs(rgba[..., :3].astype(int) - expected)[valid]
    assert diff.max() <= 1
    assert (rgba[..., 3] == np.where(valid, 255, 0)).all()
    assert (rgba[~valid][:, :3] == 0).all()


def test_rgb_style_shows_one_band_as_grey() -> None:
    rgba = apply_style(np.full((1, 1, 1), 0.15, np.float32), np.ones((1, 1), bool), TRUE_COLOR)
    assert rgba[0, 0, 0] == rgba[0, 0, 1] == rgba[0, 0, 2]


def test_scl_classes_are_exact_and_unknown_values_transparent() -> None:
    scl = load_styles()["scl"]
    classes = list(range(12))
    rgba = apply_style(*one_band([*classes, 12, 3.5, -1, 255, np.nan]), scl)[0]
    for value in classes:
        assert tuple(rgba[value]) == scl.stops[value].rgba
    assert (rgba[12:, 3] == 0).all()
    assert tuple(rgba[0]) == (0, 0, 0, 0)  # "no data" is transparent in this palette
    assert tuple(rgba[4]) == (0x10, 0xD2, 0x2C, 255)


def test_classes_with_non_integer_values() -> None:
    style = Style(
        name="halves",
        kind="classes",
        stops=[{"value": 1.5, "color": "#010203"}, {"value": -0.5, "color": "#0a0b0c"}],
    )
    rgba = apply_style(*one_band([-0.5, 1.5, 0.0, 1.0, 7]), style)[0]
    assert tuple(rgba[0]) == (10, 11, 12, 255) and tuple(rgba[1]) == (1, 2, 3, 255)
    assert (rgba[2:, 3] == 0).all()


# Image encoding ----------------------------------------------------------------------


@pytest.fixture
def half_valid() -> tuple[np.ndarray, np.ndarray]:
    """A 64 x 64 gradient whose right half is invalid."""
    data = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))[np.newaxis]
    valid = np.zeros((64, 64), dtype=bool)
    valid[:, :32] = True
    return data, valid


@pytest.mark.parametrize("paletted", [True, False], ids=["palette", "rgba"])
def test_png_round_trip_is_lossless_with_transparent_invalid_pixels(half_valid, paletted) -> None:
    data, valid = half_valid
    image = colorize(data, valid, GREY) if paletted else apply_style(data, valid, GREY)
    decoded = decode(encode_image(image, "png"))
    assert decoded.format == "PNG" and decoded.size == (64, 64)
    assert decoded.mode == ("P" if paletted else "RGBA")
    pixels = np.asarray(decoded.convert("RGBA"))
    assert (pixels == apply_style(data, valid, GREY)).all()
    assert (pixels[:, 32:, 3] == 0).all() and (pixels[:, :32, 3] == 255).all()


@pytest.mark.parametrize("paletted", [True, False], ids=["palette", "rgba"])
def test_png_without_transparency_is_rgb_on_bgcolor(half_valid, paletted) -> None:
    data, valid = half_valid
    image = colorize(data, valid, GREY) if paletted else apply_style(data, valid, GREY)
    decoded = decode(encode_image(image, "png", transparent=False, bgcolor=(10, 200, 30)))
    assert "A" not in decoded.mode and "transparency" not in decoded.info
    pixels = np.asarray(decoded.convert("RGB"))
    assert (pixels[:, 32:] == (10, 200, 30)).all()
    assert (pixels[:, :32] == apply_style(data, valid, GREY)[:, :32, :3]).all()


def test_opaque_rgba_png_is_written_as_rgb() -> None:
    rgba = np.full((8, 8, 4), 255, np.uint8)
    assert decode(encode_image(rgba, "png")).mode == "RGB"


def test_partial_alpha_composites_on_bgcolor() -> None:
    rgba = np.zeros((1, 1, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 128)
    rgb = np.asarray(decode(encode_image(rgba, "png", transparent=False, bgcolor=(0, 0, 255))))
    assert tuple(rgb[0, 0]) == (128, 0, 127)


@pytest.mark.parametrize("paletted", [True, False], ids=["palette", "rgba"])
def test_jpeg_fills_invalid_pixels_with_bgcolor(half_valid, paletted) -> None:
    data, valid = half_valid
    image = colorize(data, valid, GREY) if paletted else apply_style(data, valid, GREY)
    decoded = decode(encode_image(image, "jpeg", bgcolor=(255, 0, 0)))
    assert decoded.format == "JPEG" and decoded.mode == "RGB"
    pixels = np.asarray(decoded).astype(int)
    assert np.abs(pixels[:, 40:] - (255, 0, 0)).max() <= 6  # lossy, away from the edge
    expected = apply_style(data, valid, GREY)[:, :24, :3].astype(int)
    assert np.abs(pixels[:, :24] - expected).mean() < 3


def test_webp_keeps_alpha(half_valid) -> None:
    data, valid = half_valid
    decoded = decode(encode_image(colorize(data, valid, GREY), "webp"))
    assert decoded.format == "WEBP" and decoded.mode == "RGBA"
    alpha = np.asarray(decoded)[..., 3]
    assert (alpha[:, 34:] == 0).all() and (alpha[:, :30] == 255).all()


def test_unknown_image_format_is_rejected() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        encode_image(np.zeros((2, 2, 4), np.uint8), "gif")
    assert caught.value.locator == "format"


# Formats and colours -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("image/png", "png"),
        ("PNG", "png"),
        ("image/jpeg", "jpeg"),
        ("jpg", "jpeg"),
        ("image/webp", "webp"),
        ("image/tiff", "tiff"),
        ("image/geo+tiff", "tiff"),
        ("image/tiff; application=geotiff", "tiff"),
        ("Image/TIFF;application=geotiff; profile=cloud-optimized", "cog"),
    ],
)
def test_parse_format(text: str, key: str) -> None:
    assert parse_format(text) == key
    assert key in MEDIA_TYPES


@pytest.mark.parametrize("text", ["image/gif", "", "text/html", "image/png<script>"])
def test_parse_format_rejects_unknown(text: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_format(text)
    assert caught.value.locator == "format" and caught.value.status == 400


def test_parse_format_honours_allowed() -> None:
    assert parse_format("image/png", allowed={"png", "jpeg"}) == "png"
    with pytest.raises(InvalidParameterValue):
        parse_format("image/tiff", allowed={"png", "jpeg"})


def test_media_types() -> None:
    assert MEDIA_TYPES["png"] == "image/png" and MEDIA_TYPES["jpeg"] == "image/jpeg"
    assert MEDIA_TYPES["webp"] == "image/webp" and MEDIA_TYPES["tiff"].startswith("image/tiff")


def test_parse_color() -> None:
    assert parse_color("#0a0B0c") == (10, 11, 12, 255)
    assert parse_color("#0a0b0c80") == (10, 11, 12, 128)
    assert parse_color("0xFF0000") == (255, 0, 0, 255)
    for bad in ["red", "#12345", "#gggggg", "0x12", ""]:
        with pytest.raises(InvalidParameterValue):
            parse_color(bad, locator="bgcolor")


def test_style_validation() -> None:
    with pytest.raises(ValidationError):
        Style(
            name="x",
            kind="ramp",
            stops=[{"value": 0, "color": "red"}, {"value": 1, "color": "#fff"}],
        )
    with pytest.raises(ValidationError):
        Style(
            name="x",
            kind="ramp",
            stops=[{"value": 1, "color": "#000000"}, {"value": 0, "color": "#ffffff"}],
        )
    with pytest.raises(ValidationError):
        Style(name="x", kind="rgb", min=1, max=0)
    with pytest.raises(ValidationError):
        Style(name="x", kind="rgb", gamma=0)


# GeoTIFF and COG ---------------------------------------------------------------------

UTM33 = CRS.from_epsg(32633)
TRANSFORM = Affine(10.0, 0.0, 499980.0, 0.0, -10.0, 5300040.0)


def geotiff_input(size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    data = rng.uniform(-1, 1, (2, size, size)).astype(np.float32)
    valid = rng.random((size, size)) > 0.2
    return data, valid


@pytest.mark.parametrize("nodata", [float("nan"), -9999.0])
def test_geotiff_round_trip(nodata: float) -> None:
    data, valid = geotiff_input()
    data[1, 0, 0] = np.nan  # non-finite but "valid": written as nodata too
    payload = encode_geotiff(
        data, valid, crs=UTM33, transform=TRANSFORM, nodata=nodata, band_names=["ndvi", "ndwi"]
    )
    with MemoryFile(payload) as memory, memory.open() as dataset:
        assert dataset.driver == "GTiff" and dataset.dtypes == ("float32", "float32")
        assert dataset.crs == UTM33 and dataset.transform == TRANSFORM
        assert dataset.descriptions == ("ndvi", "ndwi")
        read = dataset.read()
        assert np.isnan(dataset.nodata) if np.isnan(nodata) else dataset.nodata == nodata
    written = valid[np.newaxis] & np.isfinite(data)
    assert (read[written] == data[written]).all()
    if np.isnan(nodata):
        assert np.isnan(read[~written]).all()
    else:
        assert (read[~written] == nodata).all()


def test_geotiff_accepts_crs_strings_and_one_band() -> None:
    data, valid = geotiff_input()
    payload = encode_geotiff(data[0], valid, crs="EPSG:4326", transform=TRANSFORM)
    with MemoryFile(payload) as memory, memory.open() as dataset:
        assert dataset.count == 1 and dataset.crs == CRS.from_epsg(4326)


@pytest.mark.parametrize(("size", "overviews"), [(200, 0), (1100, 3)])
def test_cog_is_valid(tmp_path: Path, size: int, overviews: int) -> None:
    data, valid = geotiff_input(size)
    payload = encode_geotiff(
        data, valid, crs=UTM33, transform=TRANSFORM, cog=True, band_names=["a", "b"]
    )
    path = tmp_path / "out.tif"
    path.write_bytes(payload)
    is_valid, errors, _warnings = cog_validate(str(path), quiet=True)
    assert is_valid, errors
    with rasterio.open(path) as dataset:
        assert dataset.crs == UTM33 and dataset.transform == TRANSFORM
        assert dataset.descriptions == ("a", "b")
        assert len(dataset.overviews(1)) == overviews
        read = dataset.read()
    assert (read[:, valid] == data[:, valid]).all()
    assert np.isnan(read[:, ~valid]).all()


# The configured styles ---------------------------------------------------------------


def test_styles_yaml_loads_into_style_models() -> None:
    styles = load_styles()
    expected = {"ndvi", "ndwi", "ndmi", "nbr", "evi", "savi", "kndvi", "true_color"}
    assert expected | {"false_color", "scl", "greyscale"} <= set(styles)
    assert styles["ndvi"].stops[0].value == -0.2 and styles["ndvi"].stops[-1].value == 1
    assert styles["ndwi"].stops[0].value == -0.8 and styles["ndwi"].stops[-1].value == 0.8
    assert styles["true_color"].kind == "rgb" and styles["true_color"].max == 0.3
    assert styles["scl"].kind == "classes" and len(styles["scl"].stops) == 12
    assert set(styles["scl"].labels) == {str(value) for value in range(12)}
    rng = np.random.default_rng(3)
    for style in styles.values():
        bands = 3 if style.kind == "rgb" else 1
        data = rng.uniform(-1, 12, (bands, 16, 16)).astype(np.float32)
        assert apply_style(data, np.ones((16, 16), bool), style).shape == (16, 16, 4)
