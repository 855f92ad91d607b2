"""PARL's ``parl.env.continuous_wrappers``: map a policy's actions in [-1, 1] to a Box action space."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastparl.env.compat_wrappers import AnyEnv, OldApiWrapper, _find_attr

__all__ = ["ActionMappingWrapper"]


class ActionMappingWrapper(OldApiWrapper):
    """Map actions in [-1, 1] (a tanh policy's output) linearly to ``[low, high]`` of the Box action space.

    ``step`` returns whatever the wrapped env returns (4 values under :class:`CompatWrapper`, 5 on a
    plain gymnasium env).  Unlike PARL, which maps every dimension with the first dimension's bounds,
    each dimension uses its own bounds (the same result when all bounds are equal, as in MuJoCo).

    Args:
        env: an env with a ``gymnasium.spaces.Box`` action space.

    Raises:
        TypeError: if the action space has no ``low``/``high``.
        ValueError: if a bound is not finite or ``high <= low``.
    """

    def __init__(self, env: AnyEnv) -> None:
        super().__init__(env)
        space = env.action_space
        if not (hasattr(space, "low") and hasattr(space, "high")):
            raise TypeError(f"ActionMappingWrapper needs a Box action space, got {space}")
        self.low_bound = np.asarray(space.low)
        self.high_bound = np.asarray(space.high)
        if not (np.all(np.isfinite(self.low_bound)) and np.all(np.isfinite(self.high_bound))
                and np.all(self.high_bound > self.low_bound)):
            raise ValueError(f"ActionMappingWrapper needs finite bounds with high > low, got {space}")
        max_steps = _find_attr(env, "_max_episode_steps")
        if max_steps is not None:
            self._max_episode_steps = int(max_steps)

    def step(self, model_output_act: Any) -> Any:
        """Step with ``low + (a + 1) * (high - low) / 2``, clipped to the bounds.

        Args:
            model_output_act: the action, each value in [-1, 1] (1e-3 of slack, as PARL).

        Raises:
            ValueError: if a value is outside [-1.001, 1.001].
        """
        act = np.asarray(model_output_act)
        if np.any(act > 1.0 + 1e-3) or np.any(act < -1.0 - 1e-3):
            raise ValueError(f"ActionMappingWrapper expects actions in [-1, 1], got {act}; squash the policy's "
                             "output (tanh) or clip it before env.step")
        mapped = self.low_bound + (act + 1.0) * ((self.high_bound - self.low_bound) / 2.0)
        mapped = np.clip(mapped, self.low_bound, self.high_bound)
        return self.env.step(mapped)
