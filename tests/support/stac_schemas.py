"""Validating items offline against the STAC extension schemas they name, read from
``GATEWAY_TEST_STAC_SCHEMAS`` (third-party files: tests/fixtures/stac-schemas/SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator

from tests.support.listed_files import ListedFiles

SCHEMAS = ListedFiles(
    manifest=Path(__file__).resolve().parents[1] / "fixtures" / "stac-schemas" / "SOURCES.md",
    folder_env="GATEWAY_TEST_STAC_SCHEMAS",
    what="the STAC extensions' schemas",
    fetcher="scripts/fetch_stac_schemas.py",
)


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's validator with the listed extension schemas added to its own offline copies of
    the core schemas; any other schema is an error, never a download."""

    def __init__(self) -> None:
        super().__init__()
        for name, (url, _) in SCHEMAS.listed().items():
            self.schema_cache[url] = json.loads(SCHEMAS.read(name))

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise GetSchemaError(schema_uri, LookupError("not offline: no download in tests"))
        return self.schema_cache[schema_uri]
