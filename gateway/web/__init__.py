"""The viewer at ``/``: a Leaflet map of the WMTS layers (Leaflet is vendored, no CDN)."""
