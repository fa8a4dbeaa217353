"""The ``cdse`` MapProxy source type (loaded through the ``mapproxy`` entry point group).

A source is configured as ``{type: cdse, layer: NDVI, gateway: <runtime key>}`` (the key
under which the door registered its runtime in ``gateway.registry``).
"""

from __future__ import annotations

from typing import Any

from mapproxy.config.configuration.source import (
    SourceConfiguration,
    register_source_configuration,
    source_configuration_types,
)
from mapproxy.config.spec import source_commons
from mapproxy.util.ext.dictspec.spec import combined, required

from gateway import registry
from gateway.ows.mapproxy.sources import EngineInfoSource, EngineLegendSource, EngineMapLayer

SOURCE_TYPE = "cdse"


class EngineSourceConfiguration(SourceConfiguration):
    """Builds the engine-backed map, feature-info and legend sources of one gateway layer."""

    source_type = (SOURCE_TYPE,)
    supports_meta_tiles = True

    def _parts(self) -> tuple[Any, str]:
        return registry.runtime_for(self.conf), self.conf["layer"]

    def source(self, params: Any = None) -> EngineMapLayer:
        layer = EngineMapLayer(*self._parts())
        coverage = self.coverage()  # the catalog's extent: capabilities bboxes, no reads outside
        if coverage is not None:
            layer.coverage = coverage
            layer.extent = coverage.extent
        return layer

    def fi_source(self, params: Any = None) -> EngineInfoSource:
        return EngineInfoSource(*self._parts())

    def lg_source(self, params: Any = None) -> EngineLegendSource:
        return EngineLegendSource(*self._parts())


def plugin_entrypoint() -> None:
    """Register the source type; MapProxy calls this on every configuration load."""
    if source_configuration_types.get(SOURCE_TYPE) is EngineSourceConfiguration:
        return
    spec = combined(source_commons, {required("layer"): "", required(registry.KEY): ""})
    register_source_configuration(SOURCE_TYPE, EngineSourceConfiguration, SOURCE_TYPE, spec)
