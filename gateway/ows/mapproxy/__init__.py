"""WMS 1.1.1/1.3.0 and WMTS 1.0.0 through MapProxy, rendering in-process through the engine.

- ``plugin``: the ``cdse`` MapProxy source type (entry point group ``mapproxy``).
- ``sources``: the MapProxy map, feature-info and legend sources that call the engine.
- ``config``: the MapProxy configuration dict generated from the gateway's configuration.
- ``door``: the ``/wms``, ``/wmts`` (and ``/ows``) door in front of the MapProxy WSGI app.
- ``wmts``/``tiles``: WMTS GetTile (and WMS GetMaps that are one tile) from the tile cache.
- ``featureinfo``: WMTS GetFeatureInfo, on the WMS feature-info code.
- ``dates``: the capabilities' TIME values, listed in full and refreshed after a TTL.
- ``_compat``: everything done to MapProxy beyond configuring it (request context, patches).
"""
