"""Seed every random number generator a training run touches."""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np

__all__ = ["set_seed"]


def set_seed(seed: int, env: Any = None, paddle: bool | None = None) -> None:
    """Seed Python's ``random``, numpy's global generator, paddle and a gymnasium env.

    Args:
        seed: the seed, a non-negative int.
        env: optional gymnasium environment (or vector env): its action and observation
            spaces are seeded and ``env.reset(seed=seed)`` is called, so later plain
            ``env.reset()`` calls continue the same deterministic stream.
        paddle: ``True`` seeds paddle (importing it), ``False`` skips it, ``None`` (default)
            seeds it only if it is already imported, so this stays paddle-free otherwise.

    Raises:
        TypeError: if ``seed`` is not an int.
        ValueError: if ``seed`` is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"set_seed expects an int seed, got {seed!r}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"set_seed expects a non-negative seed, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if paddle or (paddle is None and "paddle" in sys.modules):
        from fastparl.core import seed_paddle  # imports paddle: only here, never at import time

        seed_paddle(seed)
    if env is not None:
        for space_name in ("action_space", "observation_space"):
            space = getattr(env, space_name, None)
            if space is not None and hasattr(space, "seed"):
                space.seed(seed)
        env.reset(seed=seed)
