"""Free TCP ports on 127.0.0.1 for the test and bench servers, one choice for all of them.

A port is chosen before the server that will listen on it has started, which can take
seconds (a Python server's imports, PostgreSQL's start). A port from ``bind(0)`` lies in the
kernel's ephemeral range, which the kernel hands out again meanwhile, to another suite's
``bind(0)`` or to any outgoing connection's local end. So the ports here are drawn at random
below that range, where the kernel never hands one out by itself, and only a port nothing
is bound to right now is returned.
"""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000
_draw = random.SystemRandom()


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (32768 where it cannot be read)."""
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing is bound to, outside the kernel's ephemeral range."""
    top = _ephemeral_start()
    if top - _LOWEST < 1_000:  # an unusual range: fall back to the kernel's choice
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    for _ in range(200):
        port = _draw.randrange(_LOWEST, top)
        if _is_free(port):
            return port
    raise RuntimeError(f"no free port between {_LOWEST} and {top} after 200 draws")
