"""The stepping core of fastparl's vector envs: a block of gymnasium envs writing into batch buffers.

Used in-process by :class:`~fastparl.env.LocalVectorEnv` and inside the actors of
:class:`~fastparl.env.RemoteVectorEnv` (where the buffers are shared arrays).  A block steps its
envs with the autoreset rule of gymnasium's ``SyncVectorEnv`` (``AutoresetMode``): SAME_STEP
resets an env in the step that ends its episode, NEXT_STEP in the step after (returning the first
observation, reward 0 and no flags), DISABLED never.  With ``keep_infos`` it also keeps the envs'
info dicts of each step as :attr:`Block.infos`, in the order ``SyncVectorEnv`` adds them.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from fastparl.env.spaces import action_dtype, check_spaces

__all__ = ["EnvFn", "Block", "InfoEntry", "buffers", "post_infos", "take_infos"]

EnvFn = Callable[[], gym.Env]
InfoEntry = tuple[int, dict, bool]
"""``(env index in its block, info, final)``: an env's info dict of a step; ``final``: the info of the
step that ended its episode, whose last observation is in the ``final_obs`` row (SAME_STEP)."""


def buffers(n: int, obs_space: Any, act_space: gym.Space, alloc: Callable[..., np.ndarray]
            ) -> dict[str, np.ndarray]:
    act_shape: tuple[int, ...] = () if isinstance(act_space, gym.spaces.Discrete) else tuple(act_space.shape or ())
    return {
        "obs": alloc((n, *obs_space.shape), obs_space.dtype),
        "final_obs": alloc((n, *obs_space.shape), obs_space.dtype),
        "rewards": alloc((n,), np.float64),  # gymnasium's vector envs return float64 rewards
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


class Block:
    """Steps a contiguous block ``[lo, hi)`` of environments, writing into the batch buffers.

    Args:
        env_fns: one function per env of the block.
        bufs: the batch buffers (of every env of the vector env); the block writes rows ``lo:hi``.
        lo: index of the block's first env in the vector env.
        autoreset: when an ended env is reset (gymnasium's ``AutoresetMode``).
        keep_infos: keep the envs' info dicts of each step in :attr:`infos` (else they are dropped,
            and with SAME_STEP the ``ep_*`` / ``done_*`` buffers count episode returns and lengths).
    """

    def __init__(self, env_fns: Sequence[EnvFn], bufs: dict[str, np.ndarray], lo: int,
                 autoreset: AutoresetMode = AutoresetMode.SAME_STEP, keep_infos: bool = False):
        self.envs = [fn() for fn in env_fns]
        for env in self.envs:
            check_spaces(env)
        self.steppers = [_fast_step(env) for env in self.envs]
        self.elapsed = [0] * len(self.envs)
        self.lo, self.hi = lo, lo + len(self.envs)
        # Plain ndarray views (of shared memory, in an actor): SharedArray's Python hooks cost ~6% here.
        self.b = {k: v[lo:self.hi].view(np.ndarray) for k, v in bufs.items()}
        self.autoreset, self.keep_infos = autoreset, keep_infos
        self.stats = autoreset is AutoresetMode.SAME_STEP and not keep_infos
        self.to_reset = [False] * len(self.envs)  # NEXT_STEP: ended in the last step, reset in the next
        # Envs never reset yet: step() resets them first (SyncVectorEnv would raise).  Not at construction: a
        # reset there would feed stateful wrappers (NormalizeObservation's running mean) an observation that
        # SyncVectorEnv never sees, so reset(seed=...) would no longer give SyncVectorEnv's trajectories.
        self.unreset = set(range(len(self.envs)))
        self.infos: list[InfoEntry] = []

    def reset(self, seeds: Sequence[int | None] | None = None, options: dict | None = None,
              mask: Sequence[bool] | None = None) -> list[tuple[int, dict]]:
        """Reset the envs (``seeds``, ``mask``: one per env of the *vector* env, or None); returns the
        non-empty reset infos as ``(index in the vector env, info)``."""
        b, lo, out = self.b, self.lo, []
        for i, env in enumerate(self.envs):
            if mask is not None and not mask[lo + i]:
                continue
            obs, info = env.reset(seed=None if seeds is None else seeds[lo + i], options=options)
            b["obs"][i] = obs
            self.elapsed[i] = 0
            self.to_reset[i] = False
            self.unreset.discard(i)
            b["ep_return"][i] = 0
            b["ep_length"][i] = 0
            b["ended"][i] = False
            if info:
                out.append((lo + i, info))
        return out

    def step(self) -> int:
        """Step every env once with the actions in the buffer; returns how many episodes ended."""
        if self.unreset:  # stepped before reset(): reset those envs first, unseeded
            self.reset(mask=[self.lo <= i < self.hi and i - self.lo in self.unreset for i in range(self.hi)])
        if not (self.keep_infos or self.autoreset is not AutoresetMode.SAME_STEP):
            return self._step_same()
        b = self.b
        act = list(b["actions"])
        elapsed, to_reset, same = self.elapsed, self.to_reset, self.autoreset is AutoresetMode.SAME_STEP
        next_step = self.autoreset is AutoresetMode.NEXT_STEP
        infos: list[InfoEntry] = []
        observations, rewards, terms, truncs, ended = [], [], [], [], 0
        for i, (step, limit) in enumerate(self.steppers):
            if to_reset[i]:  # NEXT_STEP: this step resets the env that ended in the last one
                obs, info = self.envs[i].reset()
                r, term, trunc = 0.0, False, False
                elapsed[i] = 0
                to_reset[i] = False
            else:
                obs, r, term, trunc, info = step(act[i])
                if limit:
                    elapsed[i] += 1
                    if elapsed[i] >= limit:
                        trunc = True
                if term or trunc:
                    ended += 1
                    if same:
                        b["final_obs"][i] = obs
                        infos.append((i, info, True))
                        obs, info = self.envs[i].reset()
                        elapsed[i] = 0
                    elif next_step:
                        to_reset[i] = True
            if info:
                infos.append((i, info, False))
            observations.append(obs)
            rewards.append(r)
            terms.append(term)
            truncs.append(trunc)
        self._write_step(observations, rewards, terms, truncs)
        self.infos = infos
        return ended

    def _write_step(self, observations: list, rewards: list, terms: list, truncs: list) -> None:
        """One bulk write per field of a step's results into the shared block."""
        b = self.b
        b["obs"][:] = observations
        b["rewards"][:] = rewards
        b["terminations"][:] = terms
        b["truncations"][:] = truncs

    def _step_same(self) -> int:
        """SAME_STEP without infos: the hot loop of fastparl's own format (dense final_obs, episode stats)."""
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
        self._write_step(observations, rewards, terms, truncs)
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

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None) -> list[Any]:
        """``env.get_wrapper_attr(name)`` of each env, called with ``args`` when callable (as ``SyncVectorEnv.call``)."""
        out = []
        for env in self.envs:
            attr = env.get_wrapper_attr(name)
            out.append(attr(*args, **(kwargs or {})) if callable(attr) else attr)
        return out

    def apply(self, fn: Callable[[gym.Env], Any], indices: frozenset[int] | None = None) -> list[tuple[int, Any]]:
        """``(index in the vector env, fn(env))`` for each env of the block (whose index is in ``indices``)."""
        return [(self.lo + i, fn(env)) for i, env in enumerate(self.envs) if indices is None or self.lo + i in indices]

    def set_attr(self, name: str, values: Sequence[Any]) -> None:
        """Set ``name`` on env ``i`` to ``values[lo + i]`` (``values``: one per env of the vector env)."""
        for i, env in enumerate(self.envs):
            env.set_wrapper_attr(name, values[self.lo + i])

    def close(self) -> None:
        for env in self.envs:
            env.close()


def post_infos(box: np.ndarray, entries: Sequence[InfoEntry]) -> None:
    """Leave a block's info entries of a step in its byte buffer ``box``: an int64 header (0: none;
    n > 0: n bytes of pickle follow; -n: n bytes of the path of a file holding the pickle), then the data."""
    header = box[:8].view(np.int64)
    if not entries:
        header[0] = 0
        return
    data = pickle.dumps(list(entries), protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > len(box) - 8:  # rare (huge infos): through a file, which the driver deletes
        fd, path = tempfile.mkstemp(prefix="fastparl-env-infos-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        data = os.fsencode(path)
        box[8:8 + len(data)] = np.frombuffer(data, np.uint8)
        header[0] = -len(data)
        return
    box[8:8 + len(data)] = np.frombuffer(data, np.uint8)
    header[0] = len(data)  # after the data (the driver reads it once the step is done)


def take_infos(box: np.ndarray) -> list[InfoEntry]:
    """The entries :func:`post_infos` left in ``box``."""
    n = int(box[:8].view(np.int64)[0])
    if n == 0:
        return []
    if n > 0:
        return pickle.loads(box[8:8 + n].tobytes())
    path = os.fsdecode(box[8:8 - n].tobytes())
    try:
        with open(path, "rb") as f:
            return pickle.loads(f.read())
    finally:
        os.unlink(path)
