"""OGC API door: pygeoapi mounted at ``/ogcapi`` with providers over the gateway's engine."""
