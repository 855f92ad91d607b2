"""Seeds of the learning tests: each test's own by default, any list for a robustness sweep.

A test that takes the ``seed`` fixture runs with the seed of its ``@pytest.mark.seed(k)`` marker.
``FASTPARL_TEST_SEEDS=0-9`` (or ``0,3,7``) runs it once per listed seed instead: the sweep that checks a
learning test holds for any seed, not one lucky one::

    FASTPARL_TEST_SEEDS=0-9 python -m pytest tests/learning -p no:randomly -rA
"""

from __future__ import annotations

import os

import pytest


def sweep_seeds(spec: str) -> list[int]:
    """``"0-9"`` -> 0..9, ``"0,3,7"`` -> [0, 3, 7] (ranges and lists may mix: ``"0-2,5"``)."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        lo, _, hi = part.partition("-")
        try:
            seeds.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise pytest.UsageError(f"FASTPARL_TEST_SEEDS={spec!r}: use a range (0-9) or a list (0,3,7)") from None
    return seeds


def pytest_configure(config):
    config.addinivalue_line("markers", "seed(k): the learning test's own seed (FASTPARL_TEST_SEEDS overrides it)")


def pytest_generate_tests(metafunc):
    if "seed" not in metafunc.fixturenames:
        return
    spec = os.environ.get("FASTPARL_TEST_SEEDS", "")
    if spec:
        seeds = sweep_seeds(spec)
    else:
        marker = metafunc.definition.get_closest_marker("seed")
        if marker is None:
            raise pytest.UsageError(f"{metafunc.definition.nodeid} takes `seed`: mark it @pytest.mark.seed(k)")
        seeds = [marker.args[0]]
    metafunc.parametrize("seed", seeds, ids=[f"seed{s}" for s in seeds])
