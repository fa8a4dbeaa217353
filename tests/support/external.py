"""What a test needs from outside the repository: optional on a developer's machine, required in CI.

A newcomer's clone has only the repository. A test that needs a program or a folder that is not
there skips with the reason; under ``CI=true`` the same absence is a failure, so CI never passes
by skipping.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True when the run is CI's (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (required when CI=true)", pytrace=False)
    pytest.skip(reason)
