"""Stable-Baselines3 on fastparl's vector envs: :class:`FastparlVecEnv` and :func:`make_sb3_vec_env`.

SB3's algorithms take a ``stable_baselines3.common.vec_env.VecEnv``; :class:`FastparlVecEnv` is
one, around a :class:`~fastparl.env.LocalVectorEnv` or :class:`~fastparl.env.RemoteVectorEnv`
(envs in actor processes, data in shared memory)::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize
    from fastparl.env.sb3 import make_sb3_vec_env

    env = VecNormalize(make_sb3_vec_env("CartPole-v1", num_envs=16, num_actors=2, seed=0))
    PPO("MlpPolicy", env).learn(100_000)

It gives what SB3's ``DummyVecEnv`` gives on the same seeds and actions, step by step:
observations, float32 rewards, ``dones`` (terminated or truncated), and one info dict per env
with the env's own infos (of the step that ended the episode, for an env that reset),
``"TimeLimit.truncated"`` and, where an episode ended, ``"terminal_observation"``; the infos of
the resets are in ``reset_infos``.  ``step_async`` of a remote env starts the actors' step and
returns at once.  ``env_method``, ``get_attr``, ``set_attr`` and ``env_is_wrapped`` run in the
envs' actors (arguments and results pickled), with SB3's ``indices``.

SB3 is imported with this module, not with ``fastparl.env``: ``pip install 'fastparl[sb3]'``.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

try:
    from stable_baselines3.common.env_util import is_wrapped
    from stable_baselines3.common.vec_env import VecEnv
except ImportError as e:  # pragma: no cover - depends on what is installed
    raise ImportError("fastparl.env.sb3 needs Stable-Baselines3: pip install 'fastparl[sb3]' "
                      f"(or pip install stable-baselines3); importing it failed: {e}") from e

from fastparl.env.vector import LocalVectorEnv, RemoteVectorEnv, make_vector_env

__all__ = ["FastparlVecEnv", "make_sb3_vec_env", "unbatch_info"]

Indices = None | int | Sequence[int]
_FINAL_KEYS = ("final_obs", "final_info", "episode")  # SAME_STEP keys about the episode that ended


class FastparlVecEnv(VecEnv):  # type: ignore[misc]  # SB3 is untyped where it is not installed
    """SB3's ``VecEnv`` API on a fastparl vector env (same-step autoreset, as SB3 steps its envs).

    Args:
        venv: a :class:`~fastparl.env.LocalVectorEnv` or :class:`~fastparl.env.RemoteVectorEnv` with
            ``autoreset_mode`` SAME_STEP (the default); ``info_format="gymnasium"`` (the default) keeps
            the envs' infos, ``"fastparl"`` drops them (``terminal_observation`` and
            ``TimeLimit.truncated`` only).  With ``copy=False`` the adapter copies the observations,
            which SB3 keeps across steps.  Closing the adapter closes ``venv``.

    Raises:
        ValueError: ``venv`` does not autoreset in the same step, or has groups stepping.
    """

    def __init__(self, venv: LocalVectorEnv | RemoteVectorEnv):
        if not isinstance(venv, (LocalVectorEnv, RemoteVectorEnv)):
            raise TypeError(f"FastparlVecEnv takes a fastparl LocalVectorEnv or RemoteVectorEnv "
                            f"(fastparl.env.make_vector_env), got {type(venv).__name__}; for a gymnasium env use "
                            "SB3's DummyVecEnv")
        if venv.autoreset_mode is not AutoresetMode.SAME_STEP:
            raise ValueError(f"FastparlVecEnv needs same-step autoreset (SB3 resets an env in the step that ends its "
                             f"episode), got autoreset_mode={venv.autoreset_mode}: make the env with "
                             "autoreset_mode='SameStep' (make_vector_env's default)")
        self.venv = venv
        self._remote = isinstance(venv, RemoteVectorEnv)
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.metadata = dict(venv.metadata)  # as DummyVecEnv: the envs' metadata

    # ------------------------------------------------------------------ stepping
    def reset(self) -> np.ndarray:
        """Reset every env with the seeds of :meth:`seed` and the options of ``set_options`` (used once)."""
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = self._options[0] if self._options[0] else None
        if any(o != self._options[0] for o in self._options):
            raise ValueError("FastparlVecEnv.reset(): fastparl passes one options dict to every env, got different "
                             f"ones per env ({self._options}); call set_options(dict) with one dict")
        obs, infos = self.venv.reset(seed=seeds, options=options)
        self.reset_infos = [unbatch_info(infos, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs if self.venv.copy else np.array(obs)

    def step_async(self, actions: np.ndarray) -> None:
        """Start a step of every env (a remote env's actors start at once)."""
        if self._remote:
            self.venv.step_async(actions)  # type: ignore[union-attr]
        else:
            self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """The step's ``(obs, rewards, dones, infos)``, as SB3's ``DummyVecEnv.step_wait`` returns them."""
        if self._remote:
            obs, rewards, terms, truncs, infos = self.venv.step_wait()  # type: ignore[union-attr]
        else:
            if self._actions is None:
                raise RuntimeError("FastparlVecEnv.step_wait() without step_async(actions)")
            obs, rewards, terms, truncs, infos = self.venv.step(self._actions)
            self._actions = None
        dones = terms | truncs  # a new array: the env's flags may be shared buffers
        out: list[dict[str, Any]]
        if not infos:  # the common step: no env infos, no episode ended
            out = [{"TimeLimit.truncated": False} for _ in range(self.num_envs)]
        else:
            out = []
            ended, final = infos.get("_final_obs"), infos.get("final_info")
            for i in range(self.num_envs):
                info = unbatch_info(infos, i)
                if ended is not None and ended[i]:  # as DummyVecEnv: the last step's info, the reset's aside
                    self.reset_infos[i] = {k: v for k, v in info.items() if k not in _FINAL_KEYS}
                    info = unbatch_info(final, i) if final is not None else {}
                    info["TimeLimit.truncated"] = bool(truncs[i] and not terms[i])
                    info["terminal_observation"] = infos["final_obs"][i]
                else:
                    info["TimeLimit.truncated"] = False
                out.append(info)
        return (obs if self.venv.copy else np.array(obs)), rewards.astype(np.float32), dones, out

    def close(self) -> None:
        self.venv.close()

    # ------------------------------------------------------------------ the envs themselves
    def get_attr(self, attr_name: str, indices: Indices = None) -> list[Any]:
        """``attr_name`` of each env (``get_wrapper_attr``: found through its wrappers), not called."""
        return self.venv._apply(functools.partial(_get_attr, attr_name), self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Indices = None) -> None:
        """Set ``attr_name`` to ``value`` on each env's outermost wrapper (``setattr``, as SB3's vec envs)."""
        self.venv._apply(functools.partial(_set_attr, attr_name, value), self._indices(indices))

    def env_method(self, method_name: str, *method_args: Any, indices: Indices = None,
                   **method_kwargs: Any) -> list[Any]:
        """``method_name(*method_args, **method_kwargs)`` of each env (found through its wrappers)."""
        return self.venv._apply(functools.partial(_env_method, method_name, method_args, method_kwargs),
                                self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Indices = None) -> list[bool]:
        """Whether each env is wrapped in ``wrapper_class`` (SB3's ``env_util.is_wrapped``)."""
        return self.venv._apply(functools.partial(_is_wrapped, wrapper_class), self._indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return list(self.venv.render())

    def _indices(self, indices: Indices) -> list[int] | None:
        if indices is None:
            return None
        return [int(indices)] if isinstance(indices, (int, np.integer)) else [int(i) for i in indices]


def unbatch_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Env ``i``'s info dict from gymnasium's vector infos (the inverse of ``VectorEnv._add_info``):
    each key whose mask ``infos["_" + key]`` is set for ``i``, nested dicts unbatched the same way."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        mask = infos.get("_" + key) if isinstance(key, str) else None
        if mask is None or not mask[i]:
            continue
        out[key] = unbatch_info(value, i) if isinstance(value, dict) else value[i]
    return out


def _get_attr(name: str, env: gym.Env) -> Any:
    return env.get_wrapper_attr(name)


def _set_attr(name: str, value: Any, env: gym.Env) -> None:
    setattr(env, name, value)


def _env_method(name: str, args: tuple, kwargs: dict[str, Any], env: gym.Env) -> Any:
    return env.get_wrapper_attr(name)(*args, **kwargs)


def _is_wrapped(wrapper_class: type[gym.Wrapper], env: gym.Env) -> bool:
    return bool(is_wrapped(env, wrapper_class))


class _MonitoredEnv:
    """A picklable ``Monitor(gymnasium.make(env_id))`` (SB3's ``make_vec_env`` wraps each env so)."""

    def __init__(self, env_id: str, kwargs: dict[str, Any], monitor: bool):
        self.env_id, self.kwargs, self.monitor = env_id, {"disable_env_checker": True, **kwargs}, monitor

    def __call__(self) -> gym.Env:
        env = gym.make(self.env_id, **self.kwargs)
        if not self.monitor:
            return env
        from stable_baselines3.common.monitor import Monitor

        return Monitor(env)


def make_sb3_vec_env(env_id: str, num_envs: int, num_actors: int = 0, seed: int | None = None, monitor: bool = True,
                     env_kwargs: dict[str, Any] | None = None, **vector_kwargs: Any) -> FastparlVecEnv:
    """SB3's ``make_vec_env`` on fastparl: ``num_envs`` envs ``env_id``, over ``num_actors`` actors (0: in-process).

    Args:
        env_id: a gymnasium id.
        num_envs: number of envs.
        num_actors: see :func:`~fastparl.env.make_vector_env`.
        seed: env i's first reset gets ``seed + i`` (SB3's ``VecEnv.seed``); None: unseeded.
        monitor: wrap each env in SB3's ``Monitor`` (episode returns in ``info["episode"]``, which SB3's
            logger reads), as ``make_vec_env`` does.
        env_kwargs: passed to ``gymnasium.make``.
        **vector_kwargs: passed to :func:`~fastparl.env.make_vector_env` (``copy``, ``futex``, ``pin``,
            ``info_format``).
    """
    venv = make_vector_env(_MonitoredEnv(env_id, dict(env_kwargs or {}), monitor), num_envs, num_actors=num_actors,
                           **vector_kwargs)
    env = FastparlVecEnv(venv)
    if seed is not None:
        env.seed(seed)
    return env
