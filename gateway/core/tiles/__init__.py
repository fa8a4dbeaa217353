"""Tiles, for every door that serves them: the tile matrix sets (``grids``, morecantile's), the
tile service (``service``: metatiles, one render of a block at a time, cache hits answered in
the event loop) and seeding (``seed``). One cache key scheme: a tile's key is its engine
request's (``service.tile_key``), whichever door asks."""
