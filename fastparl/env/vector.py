"""Batches of gymnasium environments: in-process (:class:`LocalVectorEnv`) or spread over actors
(:class:`RemoteVectorEnv`).  (``fastparl.env.VectorEnv`` is PARL's simpler class, in ``vector_env.py``.)

Both step many environments per call and autoreset in the same step (like Stable-Baselines3):
when an episode ends, the returned observation is already the first one of the next episode,
and the last observation of the finished episode is in ``infos["final_obs"]`` (rows where
``infos["_final_obs"]`` is True), for bootstrapping at truncation.  ``infos["episode"]`` holds
``r`` (return) and ``l`` (length) of episodes that ended this step (mask ``infos["_episode"]``).

The remote version keeps observations, rewards, flags and actions in shared arrays: a step is
one signal per actor, however many environments it holds (one process and one round trip per
environment step, as in gymnasium's ``AsyncVectorEnv``, is what it avoids): a futex wake on
shared memory (Linux x86-64, see ``_futex.py``) or else one small remote call.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from fastparl.env import _futex
from fastparl.env._block import Block, EnvFn, buffers
from fastparl.env.spaces import check_spaces
from fastparl.errors import FastparlError
from fastparl.remote import current_backend, get, kill, remote_class, shared_array

__all__ = ["LocalVectorEnv", "RemoteVectorEnv", "make_vector_env", "EnvFn"]

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
        self.bufs = buffers(num_envs, probe.observation_space, probe.action_space, alloc)
        probe.close()

    def _set_actions(self, actions: Any, target: np.ndarray | None = None) -> None:
        actions = np.asarray(actions)
        target = self.bufs["actions"] if target is None else target
        if actions.shape != target.shape:
            if actions.size == target.size:
                actions = actions.reshape(target.shape)
            else:
                raise ValueError(f"step() got actions of shape {actions.shape}; expected {target.shape} "
                                 f"({len(target)} envs, action space {self.single_action_space})")
        target[...] = actions

    def _result(self, n_done: int, copy: bool, b: dict[str, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """The step's return values from the buffers ``b`` (default: all of them; or a group's views)."""
        b = self.bufs if b is None else b
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
        self.block = Block(env_fns, self.bufs, 0)
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
    """An actor that owns one block of environments per group and the shared buffers they write into."""

    def __init__(self, blocks: Sequence[tuple[Sequence[EnvFn], int]], bufs: dict[str, np.ndarray],
                 ctl: np.ndarray | None = None, cpu: int | None = None):
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        self.blocks = [Block(fns, bufs, lo) for fns, lo in blocks]
        self.ctl = ctl  # futex words (fastparl.env._futex), when steps are signalled through them

    def reset(self, seed: int | None = None) -> None:
        for block in self.blocks:
            block.reset(seed)

    def step(self, group: int = -1) -> int:
        """Step the block of ``group`` (-1: every block); returns how many episodes ended."""
        if group >= 0:
            return self.blocks[group].step()
        return sum(block.step() for block in self.blocks)

    def serve(self, actor: int) -> None:
        """Run the steps the driver posts to line ``actor`` of the futex words, until it posts STOP."""
        if self.ctl is None:
            raise RuntimeError("this env worker has no futex words")
        _futex.serve(self.ctl, actor, lambda cmd: self.step(-1 if cmd == _futex.STEP_ALL else cmd))

    def close(self) -> None:
        for block in self.blocks:
            block.close()


class RemoteVectorEnv(_BatchEnv):
    """Environments spread over ``num_actors`` actor processes, with all data in shared memory.

    ``step(actions)`` steps every environment in lockstep: one small message per actor.  With
    ``groups=G`` the environments also form G contiguous groups (:attr:`group_slices`) that can be
    stepped on their own, for double-buffered sampling (as in sample-factory): while actors step
    one group, the driver computes the next actions of another, so that neither waits for the
    other.  With ``G >= num_actors`` (a multiple of it), group g lives on actor ``g % num_actors``
    (``G = num_actors``: each actor steps its group while the driver acts on the others';
    ``G = 2 * num_actors``: each actor also has a second group queued); with fewer groups than
    actors, each group spans ``num_actors / G`` actors::

        env = RemoteVectorEnv(fns, num_actors=2, groups=2)
        obs, _ = env.reset(seed=0)
        for g, s in enumerate(env.group_slices):
            env.step_async(policy(obs[s]), group=g)
        while training:
            for g in range(env.groups):
                obs_g, rew_g, term_g, trunc_g, info_g = env.step_wait(group=g)  # arrays of group g only
                env.step_async(policy(obs_g), group=g)                          # then act on the next group

    A group's transitions are exactly those of stepping its environments in lockstep with the
    same actions; ``infos`` of a group step index that group's environments.

    Args:
        env_fns: one picklable function per environment (lambdas are fine: cloudpickle ships them).
        num_actors: how many processes share the environments (contiguous, near-equal blocks).
        copy: return copies of the observation/reward/flag arrays (True), or the shared buffers
            themselves, which the next step of the same environments overwrites (False, zero-copy).
        groups: how many groups of environments can be stepped independently (1: lockstep only).
        futex: signal steps through futexes on shared memory instead of remote calls (about 4x
            less CPU and latency per step); needs Linux on x86-64 and actors that share this
            host's memory.  None (default): whenever that holds.
        pin: pin actor ``a`` to the ``a``-th CPU this process may use (round robin), as
            sample-factory does with its rollout workers: no migrations, warm caches (about +15%
            on 2 cores).  Off by default: on a machine shared with other busy processes a pinned
            actor cannot move away from a loaded CPU.
    """

    def __init__(self, env_fns: Sequence[EnvFn], num_actors: int = 2, copy: bool = True, groups: int = 1,
                 futex: bool | None = None, pin: bool = False):
        env_fns = list(env_fns)
        caps = current_backend().capabilities
        can_futex = _futex.available() and caps.processes and caps.shared_memory
        if futex and not can_futex:
            raise ValueError("futex=True needs Linux on x86-64 and a backend whose actors share this host's memory "
                             f"(this one: {type(current_backend()).__name__}); pass futex=None to fall back to remote calls")
        if not 1 <= groups <= len(env_fns):
            raise ValueError(f"groups={groups} must be between 1 and the number of envs ({len(env_fns)})")
        if groups > num_actors >= 1 and groups % num_actors:
            raise ValueError(f"groups={groups} must be a multiple of num_actors={num_actors} (each actor holds "
                             "as many groups), or at most num_actors")
        gb = np.linspace(0, len(env_fns), groups + 1).astype(int)
        self.group_slices = [slice(int(lo), int(hi)) for lo, hi in zip(gb[:-1], gb[1:])]
        if num_actors < 1 or any(s.stop - s.start < len(_actors_of(g, groups, num_actors))
                                 for g, s in enumerate(self.group_slices)):
            raise ValueError(f"num_actors={num_actors} must be between 1 and the number of envs ({len(env_fns)}, "
                             f"in {groups} group(s)): every actor needs at least one env of each of its groups")
        self._setup(env_fns[0](), len(env_fns), lambda shape, dtype: shared_array(shape, dtype))
        self.copy, self.groups = copy, groups
        # plain views: SharedArray's Python hooks cost a few µs per step on this hot path
        self._group_bufs = [{k: v[s].view(np.ndarray) for k, v in self.bufs.items()} for s in self.group_slices]
        blocks: list[list[tuple[list[EnvFn], int]]] = [[] for _ in range(num_actors)]
        self._group_actors: list[list[tuple[int, int]]] = []  # per group: (actor, index of its block there)
        for g, s in enumerate(self.group_slices):
            actors = _actors_of(g, groups, num_actors)
            ab = np.linspace(s.start, s.stop, len(actors) + 1).astype(int)
            for a, lo, hi in zip(actors, ab[:-1], ab[1:]):
                blocks[a].append((env_fns[lo:hi], int(lo)))
            self._group_actors.append([(a, len(blocks[a]) - 1) for a in actors])
        self.ctl = _futex.words(num_actors, shared_array) if (can_futex if futex is None else futex) else None
        cpus = sorted(os.sched_getaffinity(0)) if pin else []
        if pin and not hasattr(os, "sched_setaffinity"):
            raise ValueError("pin=True needs os.sched_setaffinity (Linux); pass pin=False")
        self.workers = [_EnvWorker(b, self.bufs, self.ctl, cpus[a % len(cpus)] if pin else None)
                        for a, b in enumerate(blocks)]
        self._pending: dict[int | None, list[Any]] = {}  # group (None: all) -> futures, or (actor, ticket)s
        self._serving: list[Any] = []  # futex mode: each worker's pending serve() call
        self._lines: list[_futex.DriverSide] = []
        get([w.reset(None) for w in self.workers])  # type: ignore[func-returns-value]  # futures

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        """Reset every environment (steps still in flight finish first; their results are dropped)."""
        self._drain()
        self._stop_serving()
        get([w.reset(seed) for w in self.workers])  # type: ignore[func-returns-value]  # futures
        return (np.array(self.bufs["obs"]) if self.copy else self.bufs["obs"]), {}

    def step_async(self, actions: Any, group: int | None = None) -> None:
        """Start a step of every environment (``group=None``) or of one group, and return at once.

        Args:
            actions: one action per environment of the step (``len(env.group_slices[group])`` for a group).
            group: which group to step, ``0 <= group < groups``; None steps all of them.
        """
        if group is None:
            if self._pending:
                raise RuntimeError(f"step_async(): groups {sorted(self._pending, key=str)} are still stepping; "
                                   "call step_wait(group) for each first")
            self._set_actions(actions)
            self._pending[None] = self._post([(a, -1) for a in range(len(self.workers))])
            return
        if not (isinstance(group, (int, np.integer)) and 0 <= group < self.groups):
            raise ValueError(f"group={group!r}: this env has groups 0..{self.groups - 1} (RemoteVectorEnv(groups=...))")
        group = int(group)
        if group in self._pending or None in self._pending:
            raise RuntimeError(f"step_async(group={group}): the previous step of this group is still running; "
                               f"call step_wait(group={group}) first")
        self._set_actions(actions, self._group_bufs[group]["actions"])
        self._pending[group] = self._post(self._group_actors[group])

    def step_wait(self, group: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Wait for the step started by ``step_async(..., group)`` and return its results (of that group only)."""
        started = self._pending.pop(group, None)
        if started is None:
            raise RuntimeError(f"step_wait(group={group}): no step of {'all envs' if group is None else 'this group'} "
                               f"is running; started: {sorted(self._pending, key=str) or 'none'}")
        return self._result(self._collect(started), self.copy, None if group is None else self._group_bufs[group])

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every environment in lockstep."""
        self.step_async(actions)
        return self.step_wait()

    # ------------------------------------------------------------------ posting steps: futexes or calls
    def _post(self, steps: list[tuple[int, int]]) -> list[Any]:
        """Start ``(actor, block)`` steps (block -1: all of the actor's); what :meth:`_collect` takes."""
        if self.ctl is None:
            return [self.workers[a].step(block) for a, block in steps]
        if not self._serving:
            self._serving = [w.serve(a) for a, w in enumerate(self.workers)]  # type: ignore[func-returns-value]
            self._lines = [_futex.DriverSide(self.ctl, a) for a in range(len(self.workers))]
        return [(a, self._lines[a].post(_futex.STEP_ALL if block < 0 else block)) for a, block in steps]

    def _collect(self, started: list[Any]) -> int:
        """Episodes ended in the steps ``started`` by :meth:`_post`, once they are done."""
        if self.ctl is None:
            return sum(get(started))
        n = 0
        for a, ticket in started:
            n += self._lines[a].wait(ticket, functools.partial(_raise_if_done, self._serving[a]))
        return n

    def _stop_serving(self) -> None:
        if not self._serving:
            return
        serving, self._serving = self._serving, []
        tickets = [(a, line.post(_futex.STOP)) for a, line in enumerate(self._lines)]
        for a, ticket in tickets:
            self._lines[a].wait(ticket, functools.partial(_raise_if_done, serving[a]))
        get(serving)

    def _drain(self) -> None:
        pending, self._pending = self._pending, {}
        for started in pending.values():
            self._collect(started)

    def close(self) -> None:
        for stop in (self._drain, self._stop_serving):
            try:
                stop()
            except (FastparlError, RuntimeError):
                pass
        for w in getattr(self, "workers", []):
            try:
                w.close().result(timeout=10)
            except FastparlError:
                pass
            kill(w)
        self.workers = []


def _raise_if_done(serving: Any, failed: bool) -> None:
    """Raise the error of a worker whose serve() call ended (it died, or an env raised); ``failed``: it has
    flagged an error, so wait for the call's reply, which carries it."""
    if failed or serving.done():
        serving.result()
        raise RuntimeError("an env actor stopped serving steps")


def _actors_of(group: int, groups: int, num_actors: int) -> list[int]:
    """Which actors hold a part of ``group``: with at least as many groups as actors, each group lives on
    one actor (group g on actor g % num_actors); with fewer, each group spans a contiguous set of actors."""
    if groups >= num_actors:
        return [group % num_actors]
    bounds = np.linspace(0, num_actors, groups + 1).astype(int)
    return list(range(int(bounds[group]), int(bounds[group + 1])))


def make_vector_env(env: str | EnvFn, num_envs: int, num_actors: int = 0, copy: bool = True, groups: int = 1,
                    futex: bool | None = None, pin: bool = False, **make_kwargs: Any) -> LocalVectorEnv | RemoteVectorEnv:
    """Make ``num_envs`` copies of an environment, in-process (``num_actors=0``) or over actors.

    Args:
        env: a gymnasium id (made with the env checker off, which costs on every step) or a function.
        num_envs: number of environments.
        num_actors: 0 steps them in this process; N > 0 spreads them over N actor processes.
        copy: see :class:`RemoteVectorEnv`.
        groups: see :class:`RemoteVectorEnv` (double-buffered sampling; needs ``num_actors`` > 0).
        futex: see :class:`RemoteVectorEnv` (how steps are signalled to actors).
        pin: see :class:`RemoteVectorEnv` (one CPU per actor).
        **make_kwargs: passed to ``gymnasium.make`` when ``env`` is an id.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    fn = _EnvMaker(env, make_kwargs) if isinstance(env, str) else env
    if not callable(fn):
        raise TypeError(f"env must be a gymnasium id or a function returning an env, got {type(env).__name__}")
    if (groups != 1 or pin) and num_actors < 1:
        raise ValueError(f"groups={groups} and pin={pin} are about actors (groups: actors step one group while the "
                         "driver acts on another): pass num_actors >= 1, or groups=1 and pin=False")
    fns = [fn] * num_envs
    if num_actors > 0:
        return RemoteVectorEnv(fns, num_actors, copy, groups, futex, pin)
    return LocalVectorEnv(fns, copy)


class _EnvMaker:
    """A picklable ``gymnasium.make`` call (by id, so actors import only gymnasium)."""

    def __init__(self, env_id: str, kwargs: dict[str, Any]):
        self.env_id, self.kwargs = env_id, {"disable_env_checker": True, **kwargs}

    def __call__(self) -> gym.Env:
        return gym.make(self.env_id, **self.kwargs)


def _same(x: np.ndarray) -> np.ndarray:
    return x
