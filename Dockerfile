# The gateway image, also the Dask scheduler's and workers' (a job's tasks need the gateway's
# code on the worker that unpickles them). rasterio's wheel carries GDAL (with JPEG 2000), so
# no system GDAL is needed.
FROM python:3.12-slim

# NUMBA_CACHE_DIR: where numba keeps the compiled warp kernel (gateway/core/tent.py) between
# processes; /tmp is writable under Kubernetes' read-only root filesystem too.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/tmp/numba

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY config ./config
# dask-scheduler and dask-worker: the commands the Dask project's Helm chart runs, which
# distributed now only has as `dask scheduler` and `dask worker`. A fixed numeric user, so
# Kubernetes' runAsNonRoot can check it.
RUN pip install --no-cache-dir . \
    && printf '#!/bin/sh\nexec dask scheduler "$@"\n' > /usr/local/bin/dask-scheduler \
    && printf '#!/bin/sh\nexec dask worker "$@"\n' > /usr/local/bin/dask-worker \
    && chmod 755 /usr/local/bin/dask-scheduler /usr/local/bin/dask-worker \
    && useradd --system --uid 10001 --user-group --home-dir /data --create-home gateway

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["cdse-gateway", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
