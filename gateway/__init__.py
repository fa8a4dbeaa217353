"""OGC service gateway for Copernicus Data Space Ecosystem data."""

__version__ = "0.1.0"
