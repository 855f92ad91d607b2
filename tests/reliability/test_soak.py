"""Soak: many calls and round trips on one actor; memory, descriptors and shared memory must not grow.

The bounds are perf.reliability.BOUNDS (stated in perf/results/reliability.md).  The short soak
runs in the default test run (seconds); the long one (1M no-op calls, 10k round trips of 1 MB) is
marked ``soak``: ``python -m pytest -m soak tests/reliability`` or ``python -m perf.reliability``.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repo root

from perf.reliability import BOUNDS, growth, over_bounds, soak  # noqa: E402

pytestmark = pytest.mark.backends("local", "serial")


def test_short_soak(clean):
    result = soak(calls=20_000, trips=200, samples=20)
    assert result["lost"] == 0
    assert over_bounds(result) == [], {phase: growth(result[phase]) for phase in ("calls", "trips")}
    clean.record("calls_per_s", round(20_000 / result["seconds"]["calls"]))


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_long_soak(clean):
    result = soak(calls=1_000_000, trips=10_000, samples=100)
    assert result["lost"] == 0
    assert over_bounds(result) == [], (BOUNDS, {phase: growth(result[phase]) for phase in ("calls", "trips")})
