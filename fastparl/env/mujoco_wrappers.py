"""PARL's ``parl.env.mujoco_wrappers``: observation and reward normalisation for continuous control.

``wrap_rms(env, gamma)`` is what PARL's PPO example wraps a MuJoCo env in: the old gym API
(:class:`CompatWrapper`), a ``bad_transition`` flag at time limits, episode returns in
``info["episode"]`` and running-mean-std normalisation of observations and rewards.  The running
statistics are gymnasium's ``RunningMeanStd`` (the same parallel-variance algorithm as PARL's copy).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd, update_mean_var_count_from_moments

from fastparl.env.compat_wrappers import AnyEnv, CompatWrapper, OldApiWrapper

__all__ = ["MonitorEnv", "RunningMeanStd", "TimeLimitMaskEnv", "VecNormalizeEnv", "get_ob_rms", "get_wrapper_by_cls",
           "update_mean_var_count_from_moments", "wrap_rms"]


class TimeLimitMaskEnv(OldApiWrapper):
    """Sets ``info["bad_transition"] = True`` when an episode ends at the time limit (do not treat it as terminal)."""

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        obs, rew, done, info = self.env.step(action)
        if done and self.env._max_episode_steps == self.env._elapsed_steps:
            info["bad_transition"] = True
        return obs, rew, done, info


class MonitorEnv(OldApiWrapper):
    """Puts the raw episode return, length and wall time in ``info["episode"]`` (``r``, ``l``, ``t``) at its end.

    As in PARL, the end of an episode also resets the wrapped env here (the caller resets it again).
    """

    def __init__(self, env: AnyEnv) -> None:
        super().__init__(env)
        self.tstart = time.time()
        self.rewards: list[Any] = []

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        ob, rew, done, info = self.env.step(action)
        self.update(ob, rew, done, info)
        return ob, rew, done, info

    def update(self, ob: Any, rew: Any, done: bool, info: dict[str, Any]) -> None:
        """Record ``rew``; at the end of an episode, write ``info["episode"]`` and reset."""
        self.rewards.append(rew)
        if done:
            info["episode"] = {"r": round(float(sum(self.rewards)), 6), "l": len(self.rewards),
                               "t": round(time.time() - self.tstart, 6)}
            self.reset()

    def reset(self, **kwargs: Any) -> Any:
        self.rewards = []
        return self.env.reset(**kwargs)


class VecNormalizeEnv(OldApiWrapper):
    """Normalise observations (running mean/std, clipped to ``clipob``) and rewards (by the running std of
    the discounted return, clipped to ``cliprew``).  ``eval()`` freezes the observation statistics.

    Args:
        env: an old-API env with a 1-D Box observation space.
        ob: normalise observations.
        ret: normalise rewards.
        clipob: clip normalised observations to ``[-clipob, clipob]``.
        cliprew: clip normalised rewards to ``[-cliprew, cliprew]``.
        gamma: discount of the return whose std scales the rewards.
        epsilon: added to variances before the square root.
    """

    def __init__(self, env: AnyEnv, ob: bool = True, ret: bool = True, clipob: float = 10.0,
                 cliprew: float = 10.0, gamma: float = 0.99, epsilon: float = 1e-8) -> None:
        super().__init__(env)
        obs_size = env.observation_space.shape[0]  # type: ignore[index]
        self.ob_rms: RunningMeanStd | None = RunningMeanStd(shape=obs_size) if ob else None
        self.ret_rms: RunningMeanStd | None = RunningMeanStd(shape=()) if ret else None
        self.clipob = clipob
        self.cliprew = cliprew
        self.gamma = gamma
        self.epsilon = epsilon
        self.ret = np.zeros(1)
        self.training = True

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        ob, rew, new, info = self.env.step(action)
        self.ret = self.ret * self.gamma + rew
        ob = self._obfilt(ob)
        if self.ret_rms:
            self.ret_rms.update(self.ret)
            rew = np.clip(rew / np.sqrt(self.ret_rms.var + self.epsilon), -self.cliprew, self.cliprew)
        if new:
            self.ret = np.zeros(1)
        return ob, rew, new, info

    def reset(self, **kwargs: Any) -> Any:
        self.ret = np.zeros(1)
        return self._obfilt(self.env.reset(**kwargs))

    def _obfilt(self, ob: Any, update: bool = True) -> Any:
        if not self.ob_rms:
            return ob
        ob = np.asarray(ob)
        if ob.ndim == 1:  # add a batch dimension for the statistics
            ob = np.expand_dims(ob, 0)
        if self.training and update:
            self.ob_rms.update(ob)
        ob = np.clip((ob - self.ob_rms.mean) / np.sqrt(self.ob_rms.var + self.epsilon), -self.clipob, self.clipob)
        if ob.shape[0] == 1:
            ob = np.squeeze(ob, axis=0)
        return ob

    def get_ob_rms(self) -> RunningMeanStd | None:
        """The observation statistics (pass them to a test env's ``wrap_rms(..., ob_rms=)``)."""
        return self.ob_rms

    def set_ob_rms(self, ob_rms: RunningMeanStd | None) -> None:
        self.ob_rms = ob_rms

    def train(self) -> None:
        """Update the observation statistics on every step (the default)."""
        self.training = True

    def eval(self) -> None:
        """Freeze the observation statistics."""
        self.training = False


def get_wrapper_by_cls(venv: Any, cls: type) -> Any:
    """The first wrapper of class ``cls`` in ``venv``'s chain of ``.env`` attributes, or None.

    Args:
        venv: an env, possibly wrapped.
        cls: the wrapper class to look for.
    """
    while venv is not None:
        if isinstance(venv, cls):
            return venv
        venv = getattr(venv, "__dict__", {}).get("env")
    return None


def get_ob_rms(env: Any) -> RunningMeanStd | None:
    """The observation statistics of the :class:`VecNormalizeEnv` in ``env``'s chain, or None."""
    vec_norm_env = get_wrapper_by_cls(env, VecNormalizeEnv)
    return vec_norm_env.get_ob_rms() if vec_norm_env else None


def wrap_rms(env: AnyEnv, gamma: float | None, test: bool = False,
             ob_rms: RunningMeanStd | None = None) -> VecNormalizeEnv:
    """Wrap a MuJoCo env as PARL's PPO example does; the result has the old gym API.

    ``CompatWrapper`` -> ``TimeLimitMaskEnv`` -> ``MonitorEnv`` -> ``VecNormalizeEnv``; episode returns
    are in ``info["episode"]``.

    Args:
        env: a gymnasium MuJoCo env (``gymnasium.make("HalfCheetah-v5")``).
        gamma: discount for reward normalisation (unused when ``test``).
        test: an evaluation env: rewards are not normalised and the observation statistics are frozen.
        ob_rms: the training env's observation statistics (``get_ob_rms(train_env)``), when ``test``.
    """
    env = CompatWrapper(env)
    env = TimeLimitMaskEnv(env)
    env = MonitorEnv(env)
    if test:
        norm = VecNormalizeEnv(env, ret=False)
        norm.eval()
        norm.set_ob_rms(ob_rms)
    else:
        norm = VecNormalizeEnv(env, gamma=0.99 if gamma is None else gamma)
    return norm
