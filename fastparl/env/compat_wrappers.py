"""PARL's ``parl.env.compat_wrappers`` on gymnasium: old gym-style ``reset``/``step`` on a gymnasium env.

PARL's examples were written for gym < 0.26 (``obs = env.reset()``, ``obs, reward, done, info =
env.step(a)``, ``env.seed(s)``) and wrap every env in :class:`CompatWrapper` so they also run on newer
gym.  fastparl runs on gymnasium, so the same wrapper makes those examples run unchanged.

:class:`OldApiWrapper` is the base of every PARL-style wrapper here: a ``gymnasium.Wrapper`` that, like
old gym's ``Wrapper``, forwards unknown public attributes (``env.seed``, ``env.get_ob_rms`` ...) to the
env it wraps; gymnasium 1.x wrappers stopped doing that.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

import gymnasium as gym

AnyEnv = gym.Env[Any, Any]

if TYPE_CHECKING:  # the old API's step/reset do not fit gymnasium's typed signatures: type them loosely
    _WrapperBase = Any
else:
    _WrapperBase = gym.Wrapper

__all__ = ["CompatWrapper", "OldApiWrapper", "V_GYM_CHANGED", "V_NPRANDOM_CHANGED", "is_gym_version_ge"]

V_GYM_CHANGED = "0.26.0"  # gym changed env.seed(), env.reset() and env.step()
V_NPRANDOM_CHANGED = "0.22.0"  # gym changed env.np_random from .randint() to .integers()


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"1.4.0rc1"`` -> ``(1, 4, 0)``: the leading number of each dot-separated part."""
    parts = []
    for part in str(version).split("."):
        m = re.match(r"\d+", part)
        if m is None:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def is_gym_version_ge(compare_version: str) -> bool:
    """Whether the installed gym is at least ``compare_version`` (PARL's test for the new env API).

    fastparl runs on gymnasium, which has gym 0.26's API, so this compares gymnasium's version:
    ``is_gym_version_ge("0.26.0")`` is True, and PARL code then takes its new-API branch.

    Args:
        compare_version: a version such as ``"0.26.0"``.
    """
    return _version_tuple(gym.__version__) >= _version_tuple(compare_version)


def _find_attr(env: Any, name: str) -> Any:
    """``name`` on ``env`` or on the first env it wraps that has it (None if none has)."""
    while env is not None:
        attrs = getattr(env, "__dict__", {})
        if name in attrs:
            return attrs[name]
        env = attrs.get("env")
    return None


def _int_discrete(space: gym.spaces.Discrete) -> gym.spaces.Discrete:
    """A copy of ``space`` whose ``n`` is a Python int, as in gym (gymnasium's is ``np.int64``, which PARL's
    ``assert isinstance(act_dim, int)`` rejects)."""
    out = copy.copy(space)
    out.n = int(space.n)  # type: ignore[assignment]
    return out


class OldApiWrapper(_WrapperBase):
    """A ``gymnasium.Wrapper`` that forwards unknown public attributes to the wrapped env, as old gym's did.

    Private names (``_x``) are not forwarded, as in old gym.  Subclasses override ``reset``/``step``
    freely: the wrappers of PARL's examples return ``obs`` from ``reset`` and 4 values from ``step``.
    """

    def __getattr__(self, name: str) -> Any:
        # down the whole chain: gymnasium's own wrappers (TimeLimit ...) do not forward attributes
        env = vars(self).get("env")
        while env is not None and not name.startswith("_"):
            try:
                return getattr(env, name)
            except AttributeError:
                env = getattr(env, "__dict__", {}).get("env")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def reset(self, **kwargs: Any) -> Any:
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        return self.env.step(action)


class CompatWrapper(OldApiWrapper):
    """A gymnasium env with gym < 0.26's API (PARL's ``parl.env.CompatWrapper``).

    ``reset(**kwargs)`` returns ``obs``; ``step(action)`` returns ``(obs, reward, done, info)`` with
    ``done = terminated or truncated``, and also True once the episode has run ``_max_episode_steps``
    steps (the wrapped ``TimeLimit``'s limit, as PARL counts it); ``seed(s)`` seeds the next ``reset``.
    A ``Discrete`` space's ``n`` is a Python int, as in gym (gymnasium's is ``np.int64``).

    Differences from PARL, both to give old gym's behaviour that PARL's examples were written for:
    PARL passes the seed given to ``seed()`` to *every* later reset (each episode then starts in the
    same state); here it seeds the next reset only and later resets continue that random stream.
    PARL's step counter is not cleared by ``reset()`` (after an early termination the next episode
    can be cut short) and PARL ignores a truncation that is not a time limit; here neither happens.

    Args:
        env: a gymnasium env (e.g. from ``gymnasium.make``).
    """

    def __init__(self, env: AnyEnv) -> None:
        super().__init__(env)
        if isinstance(env.action_space, gym.spaces.Discrete):
            self.action_space = _int_discrete(env.action_space)
        if isinstance(env.observation_space, gym.spaces.Discrete):
            self.observation_space = _int_discrete(env.observation_space)
        max_steps = _find_attr(env, "_max_episode_steps")
        if max_steps is not None:
            self._max_episode_steps = int(max_steps)
        self.count_ep_step = 0
        self.random_seed: Any = "without_setting"  # PARL's marker for "no seed given"

    @property
    def _elapsed_steps(self) -> int:
        """The wrapped ``TimeLimit``'s step count (PARL's ``TimeLimitMaskEnv`` compares it to the limit)."""
        steps = _find_attr(self.env, "_elapsed_steps")
        if steps is None:
            raise AttributeError("the wrapped env has no TimeLimit, so no _elapsed_steps")
        return int(steps)

    def seed(self, random_seed: int | None = None) -> None:
        """Seed the env: the next :meth:`reset` uses ``random_seed``, later ones continue its stream."""
        self.random_seed = random_seed

    def reset(self, **kwargs: Any) -> Any:
        """Reset and return the first observation only (gymnasium's ``info`` is dropped, as in PARL)."""
        if self.random_seed != "without_setting":
            kwargs.setdefault("seed", self.random_seed)
            self.random_seed = "without_setting"
        self.count_ep_step = 0
        obs, _info = self.env.reset(**kwargs)
        return obs

    def step(self, action: Any) -> tuple[Any, Any, bool, dict[str, Any]]:
        """Step and return ``(obs, reward, done, info)``."""
        self.count_ep_step += 1
        out = self.env.step(action)
        if len(out) != 5:
            raise TypeError(f"CompatWrapper wraps a gymnasium env (5-value step), but {self.env} returned "
                            f"{len(out)} values; an old gym-style env needs no CompatWrapper")
        obs, reward, terminated, truncated, info = out
        done = bool(terminated or truncated)
        if hasattr(self, "_max_episode_steps") and self.count_ep_step >= self._max_episode_steps:
            done = True
        if done:
            self.count_ep_step = 0
        return obs, reward, done, info
