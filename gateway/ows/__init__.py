"""The classic OGC doors (WMS/WMTS through MapProxy, WCS, WFS) and the shared /ows endpoint."""
