"""EnvPool as an engine of fastparl's vector envs: ``make_vector_env(id, n, engine="envpool")``.

EnvPool (``pip install "fastparl[envpool]"``) steps its envs in C++ threads, for the ids it implements
(Atari, MuJoCo, classic control, ...).  :class:`EnvPoolVectorEnv` puts it behind the same
``gymnasium.vector.VectorEnv`` interface and autoreset semantics as fastparl's other vector envs, so that
code written for them takes it by changing one argument.  Opt-in only: it changes what an id means.

What EnvPool imposes, stated once:

* Atari ids (``Pong-v5``; ``ALE/Pong-v5`` is accepted) come preprocessed by EnvPool (84x84 grey frames,
  a stack of 4, frame skip 4, noop starts; ``episodic_life`` and ``reward_clip`` are passed through,
  default off here), unlike gymnasium's raw ``ALE/*`` envs.
* Seeds: EnvPool seeds its envs when it is made.  ``reset(seed=s)`` makes the pool again with that seed (env i gets EnvPool's stream for ``s``, not ``s + i``), so
  trajectories are reproducible per seed but differ from gymnasium's for the same seed.
* EnvPool resets an env on the step after it ended (gymnasium's ``NEXT_STEP``).  ``SAME_STEP`` (fastparl's
  default) is made by stepping the ended envs once more at once, so that the returned observation is the
  new episode's first one and ``final_obs`` / ``final_info`` hold the last one, as gymnasium's
  ``SyncVectorEnv(autoreset_mode=SAME_STEP)`` returns them.
* ``call``, ``get_attr``, ``set_attr`` and ``render`` are not available (the envs are C++ objects).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

__all__ = ["EnvPoolVectorEnv", "envpool_id"]


def _mode(value: AutoresetMode | str) -> AutoresetMode:
    """An AutoresetMode from itself, its value (``"NextStep"``) or its name in any case (``"next_step"``)."""
    if isinstance(value, AutoresetMode):
        return value
    for m in AutoresetMode:
        if str(value).replace("_", "").lower() in (m.value.lower(), m.name.replace("_", "").lower()):
            return m
    raise ValueError(f"autoreset_mode={value!r}: use one of {[m.name for m in AutoresetMode]}")


def envpool_id(env_id: str) -> str:
    """EnvPool's name for a gymnasium id (``ALE/Pong-v5`` -> ``Pong-v5``)."""
    return env_id.split("/", 1)[1] if env_id.startswith("ALE/") else env_id


class EnvPoolVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` EnvPool envs of ``env_id`` as a ``gymnasium.vector.VectorEnv`` (see the module docstring).

    Args:
        env_id: a gymnasium id EnvPool implements.
        num_envs: number of envs.
        autoreset_mode: ``SAME_STEP`` (default, as fastparl's vector envs) or ``NEXT_STEP`` (EnvPool's own).
        seed: EnvPool's seed for the pool (``reset(seed=...)`` may change it).
        num_threads: EnvPool's threads (default: EnvPool's choice).
        **envpool_kwargs: passed to ``envpool.make`` (for Atari: ``episodic_life``, ``reward_clip``, ...).
    """

    def __init__(self, env_id: str, num_envs: int, autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
                 seed: int = 0, num_threads: int | None = None, **envpool_kwargs: Any):
        try:
            import envpool
        except ImportError:
            raise ImportError("engine='envpool' needs EnvPool: pip install 'fastparl[envpool]' (or envpool)") from None
        mode = _mode(autoreset_mode)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
            raise ValueError(f"engine='envpool' supports autoreset_mode SAME_STEP or NEXT_STEP, not {mode.value}")
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self._envpool = envpool
        self._id = envpool_id(env_id)
        if self._id not in envpool.list_all_envs():
            raise ValueError(f"EnvPool has no env {self._id!r} (from {env_id!r}); envpool.list_all_envs() lists "
                             "those it has. Use engine='fastparl' (the default) for any gymnasium env.")
        self._kwargs = dict(envpool_kwargs)
        if "episodic_life" in getattr(envpool.make_spec(self._id), "_config_keys", ()):  # Atari: gymnasium's rewards
            self._kwargs.setdefault("episodic_life", False)
            self._kwargs.setdefault("reward_clip", False)
        if num_threads:
            self._kwargs["num_threads"] = num_threads
        self.num_envs = num_envs
        self._seed = seed
        self._pool = self._make(seed)
        self.single_observation_space = self._pool.observation_space
        self.single_action_space = self._pool.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": mode}
        self.autoreset_mode = mode
        self._ids = np.arange(num_envs, dtype=np.int32)
        self._ids_bytes = self._ids.tobytes()  # (comparing bytes: a fifth of np.array_equal's cost per step)

    def _make(self, seed: int) -> Any:
        return self._envpool.make(self._id, env_type="gymnasium", num_envs=self.num_envs, seed=seed, **self._kwargs)

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, (list, tuple)):
            seed = seed[0] if seed else None
        if seed is not None:  # a seeded reset starts the pool again: the same seed, the same episodes
            self._pool.close()
            self._seed = int(seed)
            self._pool = self._make(self._seed)
        obs, info = self._pool.reset()
        return obs, self._infos(info)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rew, term, trunc, info = self._pool.step(np.asarray(actions), self._ids)
        order = np.asarray(info["env_id"])
        if order.shape != self._ids.shape or order.tobytes() != self._ids_bytes:  # by env id (EnvPool's own order)
            back = np.argsort(order)
            obs, rew, term, trunc = obs[back], rew[back], term[back], trunc[back]
            info = {k: (np.asarray(v)[back] if np.shape(v)[:1] == (self.num_envs,) else v) for k, v in info.items()}
        infos = self._infos(info)
        if self.autoreset_mode is AutoresetMode.SAME_STEP:
            done = term | trunc
            if done.any():
                ended = np.flatnonzero(done)
                final_obs = np.empty(self.num_envs, dtype=object)
                final_obs[ended] = list(obs[ended])
                noop = np.stack([self.single_action_space.sample() for _ in ended]) if len(ended) else None
                new_obs, _, _, _, new_info = self._pool.step(noop, ended.astype(np.int32))  # their first obs
                obs = obs.copy()
                obs[np.asarray(new_info["env_id"])] = new_obs
                final_info = np.empty(self.num_envs, dtype=object)
                final_info[ended] = [{} for _ in ended]
                infos.update(final_obs=final_obs, _final_obs=done.copy(), final_info=final_info,
                             _final_info=done.copy())
        return obs, rew.astype(np.float64), term, trunc, infos

    def _infos(self, info: dict[str, Any]) -> dict[str, Any]:
        """EnvPool's per-env arrays, in gymnasium's vector format (each key with its ``_key`` mask)."""
        out: dict[str, Any] = {}
        for key in ("elapsed_step", "lives", "reward"):
            value = info.get(key)
            if value is not None and np.ndim(value) and len(value) == self.num_envs:
                out[key] = np.asarray(value)
                out[f"_{key}"] = np.ones(self.num_envs, dtype=bool)  # (fresh: wrappers may write into masks)
        return out

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.close()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        raise NotImplementedError("engine='envpool': EnvPool's envs are C++ objects; call/get_attr/set_attr need "
                                  "engine='fastparl'")

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self.call(name)

    def set_attr(self, name: str, values: Any) -> None:
        self.call(name)
