"""The Dask client of this process: a scheduler from settings, else a local cluster."""

from __future__ import annotations

import logging
import threading
from typing import Any

LOCAL_WORKERS = 2
# distributed 2026.8 starts a dashboard even with dashboard_address=None: give it a free local
# port so it never collides with another cluster on :8787.
DASHBOARD = "127.0.0.1:0"

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def get_client(scheduler: str | None) -> Any:
    """A connected ``distributed.Client`` (created once per process and address)."""
    from distributed import Client, LocalCluster

    key = scheduler or "local"
    with _lock:
        client = _clients.get(key)
        if client is None or client.status not in ("running", "connecting"):
            if scheduler:
                client = Client(scheduler, set_as_default=False)
            else:
                cluster = LocalCluster(
                    n_workers=LOCAL_WORKERS,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=DASHBOARD,
                    silence_logs=logging.ERROR,
                )
                client = Client(cluster, set_as_default=False)
            _clients[key] = client
        return client


def close_clients() -> None:
    """Close every client (and the local clusters this process started)."""
    with _lock:
        for client in _clients.values():
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        _clients.clear()
