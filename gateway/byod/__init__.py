"""Bring your own data: a user's rasters ingested as COGs with STAC items (``ingest``)."""
