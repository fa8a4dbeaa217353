"""OGC API Processes of the gateway: band math, statistics, export, and the Dask job runner."""
