"""What the engine needs of a per-pixel script (an evalscript, translated by
``gateway.evalscript``, which the doors compile): its input bands and its map's values."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from gateway.core.catalog import Scene
from gateway.core.reader import scale_and_offset
from gateway.core.render import IMAGE_FORMATS
from gateway.errors import InvalidParameterValue

if TYPE_CHECKING:  # types only: the core reads the configuration it is handed
    from gateway.config import CollectionConfig, GatewayConfig
    from gateway.core.request import RenderRequest


class PixelScript(Protocol):
    """A compiled script: ``digest`` identifies it (for cache keys)."""

    @property
    def digest(self) -> str: ...

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands it reads (reflectance)."""
        ...

    @property
    def mosaicking(self) -> str:
        """SIMPLE: the values of the mosaic; ORBIT/TILE: ``bands`` and ``valid`` given to
        ``values`` are (acquisitions, h, w), most recent first."""
        ...

    @property
    def map_output(self) -> tuple[int, str]:
        """The number of bands and the sample type of its map output."""
        ...

    @property
    def raw_dn_bands(self) -> tuple[str, ...]:
        """The DN bands it reads as the source files hold them (harmonizeValues false)."""
        ...

    def kept_scenes(
        self, described: list[dict[str, Any]], start: datetime | None, end: datetime | None
    ) -> list[int]:
        """ORBIT/TILE: the positions of the acquisitions (described as Sentinel Hub describes
        them to scripts) its ``preProcessScenes`` keeps."""
        ...

    def values(
        self,
        bands: Mapping[str, np.ndarray],
        valid: np.ndarray,
        scenes: Mapping[str, Any] | None = None,
        raw_dn: Mapping[str, np.ndarray] | None = None,
        classes: Collection[str] = (),
        *,
        picture: bool,
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """With ``picture``, the values (n, h, w) of its map output in their sample type
        (uint8 for pictures), named ``b1``...; else the bands of every output, one after the
        other, as float32 (n, h, w) (exact for the integer sample types); and their names.
        ``scenes``: evaluatePixel's argument of that name (ORBIT/TILE); ``raw_dn``: per band
        of ``raw_dn_bands``, what the source files' DN add to 10000 x reflectance;
        ``classes``: the bands read as classes (categorical: SCL), whose DN are the classes."""
        ...


PICTURE_TYPES = frozenset({"AUTO", "UINT8"})


def check_script(config: GatewayConfig, request: RenderRequest) -> tuple[str, ...]:
    """The bands the request's script reads, once they are all bands of its collection and,
    for a picture, its map output is 1 to 4 bands of 8 bits (InvalidParameterValue, locator
    ``evalscript``)."""
    script = request.script
    assert script is not None
    collection = config.collection(request.collection)
    assert collection is not None  # build_request checked it
    check_bands(script, collection)
    count, sample_type = script.map_output
    if request.format in IMAGE_FORMATS and not (sample_type in PICTURE_TYPES and 1 <= count <= 4):
        raise InvalidParameterValue(
            f"a {request.format.upper()} map needs an evalscript output of 1 to 4 bands of "
            f"sampleType AUTO or UINT8, not {count} of {sample_type}",
            locator="evalscript",
        )
    return script.bands


def check_bands(script: PixelScript, collection: CollectionConfig) -> None:
    """InvalidParameterValue (locator ``evalscript``) unless the script reads only bands of
    ``collection``."""
    for band in script.bands:
        if band not in collection.bands:
            raise InvalidParameterValue(
                f"the evalscript reads {band[:20]!r}, which is not a band of {collection.id}; "
                f"its bands are {', '.join(collection.bands)}",
                locator="evalscript",
            )


def script_picture(data: np.ndarray) -> np.ndarray:
    """uint8 RGBA (h, w, 4) of a script's 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) bands."""
    count = len(data)
    colour = [data[0]] * 3 if count <= 2 else [data[0], data[1], data[2]]
    alpha = data[count - 1] if count in (2, 4) else np.full(data.shape[1:], 255, np.uint8)
    return np.stack([*colour, alpha], axis=-1).astype(np.uint8, copy=False)


def raw_dn(
    bands: tuple[str, ...],
    source: np.ndarray,
    scenes: tuple[Scene, ...],
    collection: CollectionConfig,
) -> dict[str, np.ndarray]:
    """Per band, what each pixel's source file DN add to 10000 x reflectance: minus the
    scene's offset over its scale (baseline 04.00 and later: 1000), 0 where no scene;
    ``source``: the index in ``scenes`` of each pixel's scene (-1: none)."""
    found = {}
    for band in bands:
        extra = np.zeros(len(scenes) + 1)
        for i, scene in enumerate(scenes):
            assets = scene.band_assets(collection.item_band(band))
            if assets:
                scale, offset = scale_and_offset(scene, assets[0], collection)
                extra[i] = -offset / scale if scale else 0.0
        found[band] = extra[np.where(source >= 0, source, len(scenes))]
    return found
