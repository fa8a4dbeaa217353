"""The background cleanup of a web process: expired jobs, results and exports go away."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.processes.jobs import JobStoreUnavailable

log = logging.getLogger(__name__)


class Cleanup:
    """Calls ``clean`` at once and then every ``interval_s`` seconds, in a daemon thread, until
    ``stop``. A failed round is logged and the next one tries again."""

    def __init__(self, clean: Callable[[], None], interval_s: float) -> None:
        self._clean = clean
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobs-cleanup", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._clean()
            except JobStoreUnavailable:
                pass  # the store said so once; the next round tries again
            except Exception:
                log.exception("cleaning up jobs and outputs failed")
            self._stopped.wait(self._interval_s)
