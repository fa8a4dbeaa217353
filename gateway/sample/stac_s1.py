"""STAC items of the sample GRD products, field for field like CDSE's ``sentinel-1-grd`` items
(../shared/fixtures/cdse-stac/sentinel-1-grd.item.json)."""

from __future__ import annotations

from datetime import timedelta

from gateway.sample.cdse import (
    EXPIRES,
    S1_EXTENSIONS,
    SOFTWARE,
)
from gateway.sample.results import FileFacts, ItemResult
from gateway.sample.s1_layout import IPF_VERSION, PIXEL_SPACING, S1Plan
from gateway.sample.stac import (
    feature,
    file_fields,
    lifecycle,
    md5_checksum,
    product_asset,
    quicklook_fields,
    timestamp,
)

S1_DESIGNATORS = {"S1A": "2014-016A", "S1B": "2016-025A", "S1C": "2024-235A"}
_POLARISATION_TITLES = {
    "vv": (
        "VV: Vertical transmit, vertical receive",
        "vertically polarized signal received vertically",
    ),
    "vh": (
        "VH: Vertical transmit, horizontal receive",
        "vertically polarized signal received horizontally",
    ),
}
_SCHEMAS = {
    "product": (
        "product Schema",
        "Main source of band's metadata, including: state of the platform during acquisition, "
        "image properties, Doppler information, geographic location, etc.",
    ),
    "calibration": (
        "calibration Schema",
        "Calibration metadata including calibration details and lookup tables for beta nought, "
        "sigma nought, gamma, and digital numbers used in absolute product calibration.",
    ),
    "noise": ("noise Schema", "Estimated thermal noise look-up tables."),
}


def _short_checksum(facts: FileFacts) -> str:
    """CDSE's 16-byte multihash form of the annotation and measurement checksums."""
    return "1610" + facts.sha3_256[:32]


def _schema_asset(plan: S1Plan, kind: str, pol: str, facts: FileFacts) -> dict:
    title, description = _SCHEMAS[kind]
    return {
        "type": "application/xml",
        "title": f"{pol.upper()} {title}",
        "roles": ["metadata"],
        "sar:polarizations": [pol.upper()],
        "description": description,
        **file_fields(plan, facts, _short_checksum(facts)),
    }


def _measurement_asset(plan: S1Plan, pol: str, facts: FileFacts) -> dict:
    title, what = _POLARISATION_TITLES[pol]
    return {
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "title": title,
        "roles": ["data"],
        "data_type": "uint16",
        "nodata": 0,
        "proj:code": None,
        "proj:shape": [plan.lines, plan.samples],
        "sar:polarizations": [pol.upper()],
        "description": f"Amplitude of {what}.",
        **file_fields(plan, facts, _short_checksum(facts)),
    }


def _thumbnail(plan: S1Plan, result: ItemResult) -> dict:
    return {
        "type": "image/png",
        "title": "Thumbnail",
        "roles": ["thumbnail"],
        "proj:shape": list(result.shapes["thumbnail"]),
        **quicklook_fields(plan, result.files["thumbnail"]),
    }


def _assets(plan: S1Plan, result: ItemResult) -> dict:
    f = result.files
    manifest = f["safe_manifest"]
    assets: dict[str, dict] = {
        "safe_manifest": {
            "type": "application/xml",
            "title": "manifest.safe",
            "roles": ["metadata"],
            **file_fields(plan, manifest, md5_checksum(manifest)),
        },
        "thumbnail": _thumbnail(plan, result),
    }
    for pol in ("vv", "vh"):
        for kind in ("product", "calibration", "noise"):
            key = f"schema-{kind}-{pol}"
            assets[key] = _schema_asset(plan, kind, pol, f[key])
        assets[pol] = _measurement_asset(plan, pol, f[pol])
    assets["Product"] = product_asset(plan)
    return assets


def s1_item(plan: S1Plan, result: ItemResult) -> dict:
    """The STAC item of a sample GRD product, in the order and shape of CDSE's."""
    acq = plan.acquisition
    created = acq.processed + timedelta(minutes=2)
    published = created + timedelta(hours=2, minutes=4)
    updated = published + timedelta(seconds=9)
    properties = {
        **lifecycle(created, published, updated),
        "platform": f"sentinel-{acq.platform[1:].lower()}",
        "constellation": "sentinel-1",
        "instruments": ["sar"],
        "processing:level": "L1",
        "processing:facility": "Copernicus Data Space Ecosystem-CloudFerro",
        "processing:datetime": timestamp(acq.processed),
        "processing:version": IPF_VERSION[1:],
        "product:type": "IW_GRDH_1S",
        "start_datetime": timestamp(acq.start),
        "end_datetime": timestamp(plan.stop),
        "sat:orbit_state": acq.orbit_state,
        "sat:orbit_cycle": acq.orbit_cycle,
        "sat:relative_orbit": acq.relative_orbit,
        "sat:absolute_orbit": acq.absolute_orbit,
        "sat:platform_international_designator": S1_DESIGNATORS[acq.platform],
        "sar:frequency_band": "C",
        "sar:center_frequency": 5.405,
        "sar:observation_direction": "right",
        "sar:instrument_mode": "IW",
        "sar:polarizations": ["VV", "VH"],
        "sar:pixel_spacing_range": PIXEL_SPACING,
        "sar:pixel_spacing_azimuth": PIXEL_SPACING,
        "view:incidence_angle": float(plan.incidence(plan.samples / 2)),
        "view:azimuth": acq.heading,
        "datetime": timestamp(acq.start),
        "eopf:datatake_id": str(acq.datatake),
        "eopf:instrument_configuration_id": 7,
        "product:timeliness": "PT24H",
        "product:timeliness_category": "Fast-24h",
        "processing:software": SOFTWARE,
        "expires": EXPIRES,
    }
    return feature(plan, result, properties, _assets(plan, result), S1_EXTENSIONS)
