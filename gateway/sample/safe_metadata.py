"""Small but truthful SAFE metadata files: manifest.safe, MTD_MSIL2A.xml / MTD_MSIL1C.xml,
MTD_TL.xml, ...

They say what the sample product holds (grid, radiometric offset, special values, cloud
percentages); they are not complete ESA documents.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from gateway.sample.bands import DN_OFFSET
from gateway.sample.layout import L1C_COLLECTION, PROCESSING_BASELINE, Acquisition, ScenePlan

PSD = "https://psd-14.sentinel2.eo.esa.int/PSD"
_BAND_IDS = range(13)  # MSI band_id 0..12: B01..B08, B8A, B09, B10, B11, B12
_NOTE = " Synthetic sample product of the CDSE gateway: a window of the real MGRS tile grid. "


def iso(when: datetime) -> str:
    """UTC time as in ESA metadata (milliseconds, Z)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _acq(plan: ScenePlan) -> Acquisition:
    if plan.acquisition is None:
        raise ValueError(f"{plan.item_id} is not an L2A or L1C product")
    return plan.acquisition


def level(plan: ScenePlan) -> str:
    """The processing level of a product as its metadata names it: "1C" or "2A"."""
    return "1C" if plan.collection == L1C_COLLECTION else "2A"


def _centre(acq: Acquisition) -> str:
    return f"{acq.platform[-2:]}PS"  # processing centre code, e.g. 2BPS


def datatake_id(plan: ScenePlan) -> str:
    acq = _acq(plan)
    stamp = f"{acq.sensing:%Y%m%dT%H%M%S}"
    return f"G{acq.platform}_{stamp}_{acq.absolute_orbit:06d}_N{PROCESSING_BASELINE}"


def datastrip_id(plan: ScenePlan) -> str:
    acq = _acq(plan)
    return (
        f"{acq.platform}_OPER_MSI_L{level(plan)}_DS_{_centre(acq)}_{acq.processed:%Y%m%dT%H%M%S}"
        f"_S{acq.sensing:%Y%m%dT%H%M%S}_N{PROCESSING_BASELINE}"
    )


def datastrip_dir(plan: ScenePlan) -> str:
    """Bucket-relative DATASTRIP folder of the product."""
    acq = _acq(plan)
    name = f"DS_{_centre(acq)}_{acq.processed:%Y%m%dT%H%M%S}_S{acq.sensing:%Y%m%dT%H%M%S}"
    return f"{plan.directory}/DATASTRIP/{name}"


def _el(parent: ET.Element, tag: str, text: object = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        node.text = str(text)
    return node


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _root(tag: str, namespace: str) -> ET.Element:
    root = ET.Element(tag, {"xmlns:n1": namespace})
    root.append(ET.Comment(_NOTE))
    return root


def product_metadata(plan: ScenePlan, image_files: list[str], cloud_cover: float) -> str:
    """MTD_MSIL2A.xml / MTD_MSIL1C.xml: product info, granule file list, special values and
    the BOA (L2A) or TOA (L1C, ``RADIO_ADD_OFFSET``) offset."""
    acq = _acq(plan)
    lv = level(plan)
    root = _root(f"n1:Level-{lv}_User_Product", f"{PSD}/User_Product_Level-{lv}.xsd")
    general = _el(root, "n1:General_Info")
    info = _el(general, "Product_Info")
    _el(info, "PRODUCT_START_TIME", iso(acq.sensing))
    _el(info, "PRODUCT_STOP_TIME", iso(acq.sensing))
    _el(info, "PRODUCT_URI", plan.product_name)
    _el(info, "PROCESSING_LEVEL", f"Level-{lv}")
    _el(info, "PRODUCT_TYPE", f"S2MSI{lv}")
    _el(info, "PROCESSING_BASELINE", PROCESSING_BASELINE)
    _el(info, "GENERATION_TIME", iso(acq.processed))
    take = _el(info, "Datatake", datatakeIdentifier=datatake_id(plan))
    _el(take, "SPACECRAFT_NAME", f"Sentinel-2{acq.platform[-1]}")
    _el(take, "DATATAKE_TYPE", "INS-NOBS")
    _el(take, "DATATAKE_SENSING_START", iso(acq.sensing))
    _el(take, "SENSING_ORBIT_NUMBER", acq.relative_orbit)
    _el(take, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    granules = _el(_el(info, "Product_Organisation"), "Granule_List")
    granule = _el(
        granules,
        "Granule",
        datastripIdentifier=datastrip_id(plan),
        granuleIdentifier=plan.granule_id,
        imageFormat="JPEG2000",
    )
    for name in image_files:
        _el(granule, "IMAGE_FILE", name)
    image = _el(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", 0), ("SATURATED", 65535)):
        special = _el(image, "Special_Values")
        _el(special, "SPECIAL_VALUE_TEXT", text)
        _el(special, "SPECIAL_VALUE_INDEX", index)
    if lv == "1C":
        _el(image, "QUANTIFICATION_VALUE", 10000, unit="none")
        offsets = _el(image, "Radiometric_Offset_List")
        for i in _BAND_IDS:
            _el(offsets, "RADIO_ADD_OFFSET", round(DN_OFFSET * 10000), band_id=i)
    else:
        quantification = _el(image, "QUANTIFICATION_VALUES_LIST")
        _el(quantification, "BOA_QUANTIFICATION_VALUE", 10000, unit="none")
        _el(quantification, "AOT_QUANTIFICATION_VALUE", "1000.0", unit="none")
        _el(quantification, "WVP_QUANTIFICATION_VALUE", "1000.0", unit="cm")
        offsets = _el(image, "BOA_ADD_OFFSET_VALUES_LIST")
        for i in _BAND_IDS:
            _el(offsets, "BOA_ADD_OFFSET", round(DN_OFFSET * 10000), band_id=i)
    quality = _el(root, "n1:Quality_Indicators_Info")
    _el(quality, "Cloud_Coverage_Assessment", f"{cloud_cover:.6f}")
    return _document(root)


def tile_metadata(plan: ScenePlan, sun: tuple[float, float], percentages: dict[str, float]) -> str:
    """MTD_TL.xml: tile geocoding of the written window per resolution, sun angles, QI."""
    acq = _acq(plan)
    lv = level(plan)
    root = _root(f"n1:Level-{lv}_Tile_ID", f"{PSD}/S2_PDI_Level-{lv}_Tile_Metadata.xsd")
    general = _el(root, "n1:General_Info")
    _el(
        general,
        "TILE_ID",
        f"{acq.platform}_OPER_MSI_L{lv}_TL_{_centre(acq)}_{acq.processed:%Y%m%dT%H%M%S}"
        f"_A{acq.absolute_orbit:06d}_T{plan.tile.name}_N{PROCESSING_BASELINE}",
    )
    _el(general, "DATASTRIP_ID", datastrip_id(plan))
    _el(general, "SENSING_TIME", iso(acq.sensing))
    geometric = _el(root, "n1:Geometric_Info")
    geocoding = _el(geometric, "Tile_Geocoding", metadataLevel="Brief")
    _el(geocoding, "HORIZONTAL_CS_NAME", f"WGS84 / UTM zone {plan.tile.epsg % 100}N")
    _el(geocoding, "HORIZONTAL_CS_CODE", plan.tile.crs)
    for res, grid in plan.grids.items():
        size = _el(geocoding, "Size", resolution=res)
        _el(size, "NROWS", grid.shape[0])
        _el(size, "NCOLS", grid.shape[1])
    for res, grid in plan.grids.items():
        a, _, c, _, e, f = grid.transform
        position = _el(geocoding, "Geoposition", resolution=res)
        for tag, value in (("ULX", c), ("ULY", f), ("XDIM", a), ("YDIM", e)):
            _el(position, tag, f"{value:.0f}")
    mean_sun = _el(_el(geometric, "Tile_Angles"), "Mean_Sun_Angle")
    _el(mean_sun, "ZENITH_ANGLE", f"{90 - sun[1]:.6f}", unit="deg")
    _el(mean_sun, "AZIMUTH_ANGLE", f"{sun[0]:.6f}", unit="deg")
    content = _el(_el(root, "n1:Quality_Indicators_Info"), "Image_Content_QI")
    for key, value in percentages.items():
        _el(content, key, f"{value:.6f}")
    return _document(root)


def inspire_metadata(plan: ScenePlan, bbox: tuple[float, float, float, float]) -> str:
    """INSPIRE.xml: identifier and geographic bounding box."""
    root = ET.Element(
        "gmd:MD_Metadata",
        {
            "xmlns:gmd": "http://www.isotc211.org/2005/gmd",
            "xmlns:gco": "http://www.isotc211.org/2005/gco",
        },
    )
    _el(_el(root, "gmd:fileIdentifier"), "gco:CharacterString", plan.item_id)
    node = _el(root, "gmd:identificationInfo")
    for tag in (
        "gmd:MD_DataIdentification",
        "gmd:extent",
        "gmd:EX_Extent",
        "gmd:geographicElement",
    ):
        node = _el(node, tag)
    box = _el(node, "gmd:EX_GeographicBoundingBox")
    west, south, east, north = bbox
    for tag, value in (("west", west), ("east", east), ("south", south), ("north", north)):
        kind = "Longitude" if tag in ("west", "east") else "Latitude"
        _el(_el(box, f"gmd:{tag}Bound{kind}"), "gco:Decimal", f"{value:.6f}")
    return _document(root)


def datastrip_metadata(plan: ScenePlan) -> str:
    """MTD_DS.xml: datastrip identity, orbit and radiometric offset."""
    acq = _acq(plan)
    lv = level(plan)
    root = _root(f"n1:Level-{lv}_DataStrip_ID", f"{PSD}/S2_PDI_Level-{lv}_Datastrip_Metadata.xsd")
    general = _el(root, "n1:General_Info")
    info = _el(general, "Datastrip_Info")
    _el(info, "DATASTRIP_ID", datastrip_id(plan))
    _el(info, "SPACECRAFT_NAME", f"Sentinel-2{acq.platform[-1]}")
    _el(info, "DATATAKE_SENSING_START", iso(acq.sensing))
    _el(info, "SENSING_ORBIT_NUMBER", acq.relative_orbit)
    _el(info, "DOWNLINK_ORBIT_NUMBER", acq.absolute_orbit)
    processing = _el(general, "Processing_Info")
    _el(processing, "PROCESSING_BASELINE", PROCESSING_BASELINE)
    offset = "RADIO_ADD_OFFSET" if lv == "1C" else "BOA_ADD_OFFSET"
    _el(processing, offset, round(DN_OFFSET * 10000))
    return _document(root)


def manifest(plan: ScenePlan, files: list[tuple[str, int, str]]) -> str:
    """manifest.safe: one data object per file (path relative to the .SAFE, size, md5)."""
    root = ET.Element(
        "xfdu:XFDU",
        {
            "xmlns:xfdu": "urn:ccsds:schema:xfdu:1",
            "version": f"esa/safe/sentinel/1.1/sentinel-2/msi/archive_l{level(plan).lower()}"
            "_user_product",
        },
    )
    package = _el(root, "informationPackageMap")
    unit = f"Product_Level-{level(plan)}"
    _el(package, "xfdu:contentUnit", unitType=unit, textInfo=plan.product_name)
    section = _el(root, "dataObjectSection")
    for i, (rel, size, md5) in enumerate(files):
        stream = _el(
            _el(section, "dataObject", ID=f"obj{i}"),
            "byteStream",
            mimeType="application/octet-stream",
            size=size,
        )
        _el(stream, "fileLocation", locatorType="URL", href=f"./{rel}")
        _el(stream, "checksum", md5, checksumName="MD5")
    return _document(root)
