"""The GDAL VRT of one time step of a Zarr variable: the step's array as band 1 with the CRS,
grid, nodata, scale and offset of the store's metadata, the coarser ``multiscales`` levels as
its overviews. The reader opens it as it opens a COG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from gateway.byod.zarr import Variable
from gateway.core.storage import VRT_TYPE

__all__ = ["VRT_TYPE", "gdal_type", "write_vrt"]


def gdal_type(dtype: str) -> str:
    """GDAL's name of a numpy data type (``uint8`` is ``Byte``)."""
    name = np.dtype(dtype).name
    if name == "uint8":
        return "Byte"
    return name.replace("uint", "UInt").replace("int", "Int").replace("float", "Float")


def _source(parent: ET.Element, tag: str, name: str) -> None:
    element = ET.SubElement(parent, tag)
    ET.SubElement(element, "SourceFilename", relativeToVRT="0").text = name
    ET.SubElement(element, "SourceBand").text = "1"


def write_vrt(variable: Variable, step: int, path: Path) -> Path:
    """``path``: the VRT of ``step`` of ``variable`` (level 0, the others as overviews)."""
    root = ET.Element(
        "VRTDataset", rasterXSize=str(variable.width), rasterYSize=str(variable.height)
    )
    ET.SubElement(root, "SRS").text = variable.crs.to_wkt(version="WKT2_2019")
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(float(v)) for v in variable.transform.to_gdal()
    )
    band = ET.SubElement(root, "VRTRasterBand", dataType=gdal_type(variable.dtype), band="1")
    if variable.nodata is not None:
        ET.SubElement(band, "NoDataValue").text = repr(float(variable.nodata))
    ET.SubElement(band, "Offset").text = repr(float(variable.offset))
    ET.SubElement(band, "Scale").text = repr(float(variable.scale))
    _source(band, "SimpleSource", variable.source(0, step))
    for level in range(1, len(variable.levels)):
        _source(band, "Overview", variable.source(level, step))
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n")
    return path
