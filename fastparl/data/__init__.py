"""Experience storage: PARL-compatible replay memories and on-policy rollout storage (numpy only)."""

from __future__ import annotations

from fastparl.data.replay import PrioritizedReplayMemory, ReplayMemory
from fastparl.data.rollout import RolloutStorage

__all__ = ["PrioritizedReplayMemory", "ReplayMemory", "RolloutStorage"]
