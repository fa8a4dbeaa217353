"""A CDSE-shaped sample archive: Sentinel-2 L2A .SAFE products (JPEG 2000), quarterly COG
mosaics and a static STAC catalog whose items look field for field like CDSE's.

The pixels come from a deterministic synthetic world (lakes, a river, forest, fields, towns,
clouds and their shadows) over two real MGRS tiles on both sides of the UTM 31/32 boundary.

    from gateway.sample import write_sample_archive, plan_sample, SAMPLE_MARKER
"""

from gateway.sample.landscape import LANDMARKS, Cover, Landmark
from gateway.sample.layout import ScenePlan, plan_sample
from gateway.sample.writer import SAMPLE_MARKER, sample_is_current, write_sample_archive

__all__ = [
    "LANDMARKS",
    "SAMPLE_MARKER",
    "Cover",
    "Landmark",
    "ScenePlan",
    "plan_sample",
    "sample_is_current",
    "write_sample_archive",
]
