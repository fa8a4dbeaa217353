"""The test servers' ports lie outside the kernel's ephemeral range and are free when chosen."""

from __future__ import annotations

import socket

from tests.support import ports


def test_a_port_is_drawn_below_the_kernels_ephemeral_range_and_can_be_bound():
    start = ports._ephemeral_start()
    for _ in range(50):
        port = ports.free_port()
        assert 10_000 <= port < start
        with socket.create_server(("127.0.0.1", port)):
            pass


def test_a_port_something_is_bound_to_is_passed_over(monkeypatch):
    free = ports.free_port()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        draws = iter([busy, busy, free])
        monkeypatch.setattr(ports._draw, "randrange", lambda low, high: next(draws))
        assert ports.free_port() == free
