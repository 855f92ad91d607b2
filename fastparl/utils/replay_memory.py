"""PARL's module path ``parl.utils.replay_memory``: the class lives in :mod:`fastparl.data.replay`."""

from __future__ import annotations

from fastparl.data.replay import ReplayMemory

__all__ = ["ReplayMemory"]
