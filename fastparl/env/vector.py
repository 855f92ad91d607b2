"""Batches of gymnasium environments: in-process (:class:`LocalVectorEnv`) or spread over actors
(:class:`RemoteVectorEnv`).  (``fastparl.env.VectorEnv`` is PARL's simpler class, in ``vector_env.py``.)

Both step many environments per call and autoreset in the same step (like Stable-Baselines3):
when an episode ends, the returned observation is already the first one of the next episode,
and the last observation of the finished episode is in ``infos["final_obs"]`` (rows where
``infos["_final_obs"]`` is True), for bootstrapping at truncation.  ``infos["episode"]`` holds
``r`` (return) and ``l`` (length) of episodes that ended this step (mask ``infos["_episode"]``).

The remote version keeps observations, rewards, flags and actions in shared arrays: a step is
one small message per actor, however many environments it holds (one process and one round
trip per environment step, as in gymnasium's ``AsyncVectorEnv``, is what it avoids).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from fastparl.env.spaces import action_dtype, check_spaces
from fastparl.errors import FastparlError
from fastparl.remote import get, kill, remote_class, shared_array

__all__ = ["LocalVectorEnv", "RemoteVectorEnv", "make_vector_env", "EnvFn"]

EnvFn = Callable[[], gym.Env]
_FIELDS = ("obs", "final_obs", "rewards", "terminations", "truncations", "ended", "ep_return", "ep_length",
           "done_return", "done_length", "actions")


def _buffers(n: int, obs_space: Any, act_space: gym.Space, alloc: Callable[..., np.ndarray]
             ) -> dict[str, np.ndarray]:
    act_shape: tuple[int, ...] = () if isinstance(act_space, gym.spaces.Discrete) else tuple(act_space.shape or ())
    return {
        "obs": alloc((n, *obs_space.shape), obs_space.dtype),
        "final_obs": alloc((n, *obs_space.shape), obs_space.dtype),
        "rewards": alloc((n,), np.float32),
        "terminations": alloc((n,), np.bool_),
        "truncations": alloc((n,), np.bool_),
        "ended": alloc((n,), np.bool_),
        "ep_return": alloc((n,), np.float64),
        "ep_length": alloc((n,), np.int64),
        "done_return": alloc((n,), np.float64),
        "done_length": alloc((n,), np.int64),
        "actions": alloc((n, *act_shape), action_dtype(act_space)),
    }


def _fast_step(env: gym.Env) -> tuple[Callable[[Any], tuple], int]:
    """(step function, time limit) for the hot loop.

    ``gymnasium.make`` wraps an env in ``TimeLimit(OrderEnforcing(env))`` (plus the env checker,
    which fastparl turns off): two Python calls per step that cost ~10% of a CartPole step.  For
    exactly that stack, step the inner env directly and count the time limit here (0: no limit);
    any other wrapper stack is stepped as it is.
    """
    from gymnasium.wrappers import OrderEnforcing, TimeLimit

    if type(env) is TimeLimit and type(env.env) is OrderEnforcing and env.env.env is env.unwrapped:
        return env.unwrapped.step, int(env._max_episode_steps or 0)
    return env.step, 0


class _Block:
    """Steps a contiguous block ``[lo, hi)`` of environments, writing into the batch buffers."""

    def __init__(self, env_fns: Sequence[EnvFn], bufs: dict[str, np.ndarray], lo: int):
        self.envs = [fn() for fn in env_fns]
        for env in self.envs:
            check_spaces(env)
        self.steppers = [_fast_step(env) for env in self.envs]
        self.elapsed = [0] * len(self.envs)
        self.lo, self.hi = lo, lo + len(self.envs)
        # Plain ndarray views (of shared memory, in an actor): SharedArray's Python hooks cost ~6% here.
        self.b = {k: v[lo:self.hi].view(np.ndarray) for k, v in bufs.items()}

    def reset(self, seed: int | None = None) -> None:
        b = self.b
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=None if seed is None else seed + self.lo + i)
            b["obs"][i] = obs
        self.elapsed = [0] * len(self.envs)
        b["ep_return"][:] = 0
        b["ep_length"][:] = 0
        b["ended"][:] = False

    def step(self) -> int:
        """Step every env once with the actions in the shared buffer; returns how many episodes ended."""
        b = self.b
        act = list(b["actions"])  # NumPy scalars: gymnasium's Discrete.contains checks them faster than ints
        elapsed = self.elapsed
        observations, rewards, terms, truncs, ended = [], [], [], [], []
        for i, (step, limit) in enumerate(self.steppers):  # the hot loop: Python lists, one bulk write per field
            obs, r, term, trunc, _ = step(act[i])
            if limit:
                elapsed[i] += 1
                if elapsed[i] >= limit:
                    trunc = True
            if term or trunc:
                ended.append(i)
                b["final_obs"][i] = obs
                obs, _ = self.envs[i].reset()
                elapsed[i] = 0
            observations.append(obs)
            rewards.append(r)
            terms.append(term)
            truncs.append(trunc)
        b["obs"][:] = observations
        b["rewards"][:] = rewards
        b["terminations"][:] = terms
        b["truncations"][:] = truncs
        ep_ret, ep_len = b["ep_return"], b["ep_length"]
        ep_ret += b["rewards"]
        ep_len += 1
        flags = b["ended"]
        flags[:] = False
        if ended:
            flags[ended] = True
            b["done_return"][ended] = ep_ret[ended]
            b["done_length"][ended] = ep_len[ended]
            ep_ret[ended] = 0.0
            ep_len[ended] = 0
        return len(ended)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class _BatchEnv:
    """What both vector envs share: spaces, buffers and the gymnasium-style return values."""

    bufs: dict[str, np.ndarray]

    def _setup(self, probe: gym.Env, num_envs: int, alloc: Callable[..., np.ndarray]) -> None:
        check_spaces(probe)
        self.num_envs = num_envs
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        self.observation_space = gym.vector.utils.batch_space(probe.observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(probe.action_space, num_envs)
        self.bufs = _buffers(num_envs, probe.observation_space, probe.action_space, alloc)
        probe.close()

    def _set_actions(self, actions: Any) -> None:
        actions = np.asarray(actions)
        target = self.bufs["actions"]
        if actions.shape != target.shape:
            if actions.size == target.size:
                actions = actions.reshape(target.shape)
            else:
                raise ValueError(f"step() got actions of shape {actions.shape}; expected {target.shape} "
                                 f"({self.num_envs} envs, action space {self.single_action_space})")
        target[...] = actions

    def _result(self, n_done: int, copy: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        b = self.bufs
        pick = np.array if copy else _same
        infos: dict[str, Any] = {}
        if n_done:
            ended = b["ended"].copy()
            infos = {"final_obs": b["final_obs"].copy(), "_final_obs": ended,
                     "episode": {"r": b["done_return"].copy(), "l": b["done_length"].copy()}, "_episode": ended}
        return (pick(b["obs"]), pick(b["rewards"]), pick(b["terminations"]), pick(b["truncations"]), infos)

    def __enter__(self) -> "_BatchEnv":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LocalVectorEnv(_BatchEnv):
    """``num_envs`` environments stepped in this process (the serial baseline of :class:`RemoteVectorEnv`)."""

    def __init__(self, env_fns: Sequence[EnvFn], copy: bool = True):
        env_fns = list(env_fns)
        self._setup(env_fns[0](), len(env_fns), np.zeros)
        self.copy = copy
        self.block = _Block(env_fns, self.bufs, 0)
        self.block.reset(None)  # as RemoteVectorEnv: step() works before reset(); reset(seed) seeds

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        self.block.reset(seed)
        return (np.array(self.bufs["obs"]) if self.copy else self.bufs["obs"]), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        self._set_actions(actions)
        return self._result(self.block.step(), self.copy)

    def close(self) -> None:
        self.block.close()


@remote_class(wait=False)
class _EnvWorker:
    """An actor that owns a block of environments and the shared buffers they write into."""

    def __init__(self, env_fns: Sequence[EnvFn], bufs: dict[str, np.ndarray], lo: int):
        self.block = _Block(env_fns, bufs, lo)

    def reset(self, seed: int | None = None) -> None:
        self.block.reset(seed)

    def step(self) -> int:
        return self.block.step()

    def close(self) -> None:
        self.block.close()


class RemoteVectorEnv(_BatchEnv):
    """Environments spread over ``num_actors`` actor processes, with all data in shared memory.

    Args:
        env_fns: one picklable function per environment (lambdas are fine: cloudpickle ships them).
        num_actors: how many processes share the environments (contiguous, near-equal blocks).
        copy: return copies of the observation/reward/flag arrays (True), or the shared buffers
            themselves, which the next step overwrites (False, zero-copy).
    """

    def __init__(self, env_fns: Sequence[EnvFn], num_actors: int = 2, copy: bool = True):
        env_fns = list(env_fns)
        if not 1 <= num_actors <= len(env_fns):
            raise ValueError(f"num_actors={num_actors} must be between 1 and the number of envs ({len(env_fns)})")
        self._setup(env_fns[0](), len(env_fns), lambda shape, dtype: shared_array(shape, dtype))
        self.copy = copy
        bounds = np.linspace(0, len(env_fns), num_actors + 1).astype(int)
        self.workers = [_EnvWorker(env_fns[lo:hi], self.bufs, int(lo)) for lo, hi in zip(bounds[:-1], bounds[1:])]
        get([w.reset(None) for w in self.workers])  # type: ignore[func-returns-value]  # futures

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        get([w.reset(seed) for w in self.workers])  # type: ignore[func-returns-value]  # futures
        return (np.array(self.bufs["obs"]) if self.copy else self.bufs["obs"]), {}

    def step_async(self, actions: Any) -> list[Any]:
        """Start a step and return at once (overlap the step with work in the driver)."""
        self._set_actions(actions)
        return [w.step() for w in self.workers]

    def step_wait(self, futures: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        return self._result(sum(get(futures)), self.copy)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        return self.step_wait(self.step_async(actions))

    def close(self) -> None:
        for w in getattr(self, "workers", []):
            try:
                w.close().result(timeout=10)
            except FastparlError:
                pass
            kill(w)
        self.workers = []


def make_vector_env(env: str | EnvFn, num_envs: int, num_actors: int = 0, copy: bool = True,
                    **make_kwargs: Any) -> LocalVectorEnv | RemoteVectorEnv:
    """Make ``num_envs`` copies of an environment, in-process (``num_actors=0``) or over actors.

    Args:
        env: a gymnasium id (made with the env checker off, which costs on every step) or a function.
        num_envs: number of environments.
        num_actors: 0 steps them in this process; N > 0 spreads them over N actor processes.
        copy: see :class:`RemoteVectorEnv`.
        **make_kwargs: passed to ``gymnasium.make`` when ``env`` is an id.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    fn = _EnvMaker(env, make_kwargs) if isinstance(env, str) else env
    if not callable(fn):
        raise TypeError(f"env must be a gymnasium id or a function returning an env, got {type(env).__name__}")
    fns = [fn] * num_envs
    return RemoteVectorEnv(fns, num_actors, copy) if num_actors > 0 else LocalVectorEnv(fns, copy)


class _EnvMaker:
    """A picklable ``gymnasium.make`` call (by id, so actors import only gymnasium)."""

    def __init__(self, env_id: str, kwargs: dict[str, Any]):
        self.env_id, self.kwargs = env_id, {"disable_env_checker": True, **kwargs}

    def __call__(self) -> gym.Env:
        return gym.make(self.env_id, **self.kwargs)


def _same(x: np.ndarray) -> np.ndarray:
    return x
