"""Batches of gymnasium environments: in-process (:class:`LocalVectorEnv`) or spread over actors
(:class:`RemoteVectorEnv`).  (``fastparl.env.VectorEnv`` is PARL's simpler class, in ``vector_env.py``.)

Both are ``gymnasium.vector.VectorEnv`` s: gymnasium's vector wrappers (``RecordEpisodeStatistics``,
``NormalizeObservation``, ...) and code written for ``SyncVectorEnv`` run on them.  They reset an env
the way ``autoreset_mode`` says (``metadata["autoreset_mode"]``, gymnasium's ``AutoresetMode``):

* SAME_STEP (the default, as Stable-Baselines3 and fastparl's algorithms expect): when an episode
  ends, the returned observation is already the first one of the next episode, and the last one
  is in ``infos["final_obs"]`` (rows where ``infos["_final_obs"]`` is True), for bootstrapping at
  truncation;
* NEXT_STEP (gymnasium's default): the step after the end resets the env (reward 0, no flags);
* DISABLED: never; reset ended envs with ``reset(options={"reset_mask": mask})``.

``info_format`` says what ``infos`` holds:

* ``"gymnasium"`` (the default): exactly what ``gymnasium.vector.SyncVectorEnv`` returns in the
  same mode: the envs' infos in the vector format (``infos[key]`` an array with mask
  ``infos["_" + key]``) and, in SAME_STEP mode, ``final_obs`` (an object array, None where no
  episode ended: ``np.stack(infos["final_obs"][mask])`` gives the rows) and ``final_info``, with
  masks ``_final_obs`` and ``_final_info``.  Episode returns and lengths come from gymnasium's
  ``RecordEpisodeStatistics`` wrapper, as on any gymnasium vector env;
* ``"fastparl"`` (SAME_STEP only; opt-in, the default before gymnasium's): no env infos (nothing
  pickled in the actors; measured as fast as ``"gymnasium"`` within 5% on CartPole, where the
  envs have no infos of their own); ``final_obs`` is a dense
  ``(num_envs, *obs_shape)`` array (rows of envs whose episode did not end are stale) and
  ``episode`` holds ``r`` (return) and ``l`` (length) of episodes that ended this step (mask
  ``_episode``), counted in the actors as ``RecordEpisodeStatistics`` counts them: so that
  wrapper, which refuses to overwrite ``episode``, needs ``"gymnasium"``.

The remote version keeps observations, rewards, flags and actions in shared arrays: a step is
one signal per actor, however many environments it holds (one process and one round trip per
environment step, as in gymnasium's ``AsyncVectorEnv``, is what it avoids): a futex wake on
shared memory (Linux x86-64, see ``_futex.py``) or else one small remote call.  Env infos, when
kept, travel from the actors through a shared byte buffer per block of envs (pickled; a file in
the temporary directory when one step's infos outgrow it).

``gymnasium.make_vec`` builds these envs for ids registered with
:func:`~fastparl.env.registration.register_vector_env`.

Where they depart from ``SyncVectorEnv``: SAME_STEP is the default autoreset mode (gymnasium's
is NEXT_STEP; ``register_vector_env``'s ids keep gymnasium's); ``copy=False`` hands out the
buffers of rewards and flags too, not only of observations (zero-copy: the next step overwrites
them); observations must be a Box and actions a Discrete or Box (``check_spaces``); a
``final_obs`` entry is the env's last observation as stored in a buffer of the observation space's
dtype; ``call`` / ``get_attr`` results of remote envs are pickled copies.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from fastparl.env import _futex
from fastparl.env._block import Block, EnvFn, InfoEntry, buffers, post_infos, take_infos
from fastparl.env.spaces import check_spaces
from fastparl.errors import FastparlError
from fastparl.remote import current_backend, get, kill, remote_class, shared_array

__all__ = ["LocalVectorEnv", "RemoteVectorEnv", "make_vector_env", "EnvFn"]

INFO_FORMATS = ("gymnasium", "fastparl")
_INFO_BOX_BYTES = 1 << 16  # per env of a block: a shared byte buffer for its infos (pages used on demand)


def _modes(autoreset_mode: AutoresetMode | str, info_format: str) -> tuple[AutoresetMode, str]:
    """Check and normalise the autoreset mode and the info format."""
    try:
        mode = autoreset_mode if isinstance(autoreset_mode, AutoresetMode) else AutoresetMode(autoreset_mode)
    except ValueError:
        raise ValueError(f"autoreset_mode={autoreset_mode!r}: expected a gymnasium.vector.AutoresetMode or one of "
                         f"{[m.value for m in AutoresetMode]}") from None
    if info_format not in INFO_FORMATS:
        raise ValueError(f"info_format={info_format!r}: expected one of {INFO_FORMATS}")
    if info_format == "fastparl" and mode is not AutoresetMode.SAME_STEP:
        raise ValueError(f"info_format='fastparl' (dense final_obs, episode stats) needs same-step autoreset, got "
                         f"autoreset_mode={mode}: pass info_format='gymnasium'")
    return mode, info_format


class _InfoBatch(gym.vector.VectorEnv):
    """Only gymnasium's ``VectorEnv._add_info`` for ``num_envs`` envs: infos of a group of envs."""

    def __init__(self, num_envs: int):
        self.num_envs = num_envs


class _BatchEnv(gym.vector.VectorEnv):
    """What both vector envs share: spaces, buffers and the gymnasium-style return values."""

    bufs: dict[str, np.ndarray]
    copy: bool

    def _setup(self, probe: gym.Env, num_envs: int, alloc: Callable[..., np.ndarray],
               autoreset_mode: AutoresetMode | str, info_format: str) -> None:
        self.autoreset_mode, self.info_format = _modes(autoreset_mode, info_format)
        self.keep_infos = self.info_format == "gymnasium"
        check_spaces(probe)
        self.num_envs = num_envs
        self.metadata = {**probe.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = probe.render_mode
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

    def _reset_args(self, seed: Any, options: dict | None
                    ) -> tuple[list[int | None] | None, dict | None, list[bool] | None]:
        """``reset``'s seeds (one per env), options and mask, checked as ``SyncVectorEnv.reset`` does."""
        n = self.num_envs
        seeds: list[int | None] | None
        if seed is None:
            seeds = None
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
        elif isinstance(seed, (list, tuple, np.ndarray)) and len(seed) == n:
            seeds = [None if s is None else int(s) for s in seed]
        else:
            raise ValueError(f"reset(seed={seed!r}): pass an int (env i gets seed + i), a list of {n} seeds "
                             f"(int or None, one per env), or None")
        mask = None
        if options is not None:
            if not isinstance(options, dict):
                raise TypeError(f"reset(options=...) takes a dict, got {type(options).__name__}")
            if "reset_mask" in options:
                options = dict(options)
                m = options.pop("reset_mask")
                if not (isinstance(m, np.ndarray) and m.dtype == np.bool_ and m.shape == (n,) and m.any()):
                    raise ValueError(f"options['reset_mask'] must be a bool NumPy array of shape ({n},) with at least "
                                     f"one True, got {m!r}")
                mask = m.tolist()
        return seeds, options, mask

    def _reset_infos(self, entries: Sequence[tuple[int, dict]]) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        for i, info in sorted(entries, key=lambda e: e[0]):
            infos = self._add_info(infos, info, i)
        return infos

    def _result(self, n_done: int, b: dict[str, np.ndarray] | None = None,
                entries: Sequence[tuple[int, Sequence[InfoEntry]]] = (), batch: gym.vector.VectorEnv | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """The step's return values from the buffers ``b`` (default: all of them; or a group's views).

        ``entries``: the kept infos as ``(offset of their block in b, its entries)``, in env order;
        ``batch``: whose ``_add_info`` batches them (a group's, or this env).
        """
        b = self.bufs if b is None else b
        pick = np.array if self.copy else _same
        infos: dict[str, Any] = {}
        if self.keep_infos:
            owner = batch or self
            flat = [(offset + i, info, final) for offset, block_entries in entries for i, info, final in block_entries]
            scalars = None if any(final for _, _, final in flat) else _scalar_infos(flat, owner.num_envs)
            if scalars is not None:
                infos = scalars
            else:
                for i, info, final in flat:
                    if final:
                        info = {"final_obs": np.array(b["final_obs"][i]), "final_info": info}
                    infos = owner._add_info(infos, info, i)
        elif n_done:
            ended = b["ended"].copy()
            infos = {"final_obs": b["final_obs"].copy(), "_final_obs": ended,
                     "episode": {"r": b["done_return"].copy(), "l": b["done_length"].copy()}, "_episode": ended}
        return (pick(b["obs"]), pick(b["rewards"]), pick(b["terminations"]), pick(b["truncations"]), infos)

    def _obs(self) -> np.ndarray:
        return np.array(self.bufs["obs"]) if self.copy else self.bufs["obs"]

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``name`` of each env (found through its wrappers), as ``SyncVectorEnv.get_attr``: called if callable."""
        return self.call(name)

    def render(self) -> tuple[Any, ...]:
        """Each env's ``render()`` (make the envs with ``render_mode=...``)."""
        return self.call("render")

    def _apply(self, fn: Callable[[gym.Env], Any], indices: Sequence[int] | None = None) -> list[Any]:
        """``fn(env)`` for each env (in its actor: ``fn`` is pickled), or for envs ``indices`` in that order
        (what SB3's ``VecEnv.env_method`` / ``get_attr`` / ``env_is_wrapped`` need: fastparl.env.sb3)."""
        chosen = None if indices is None else [int(i) for i in indices]
        if chosen is not None and not all(0 <= i < self.num_envs for i in chosen):
            raise IndexError(f"indices {chosen}: this env has envs 0..{self.num_envs - 1}")
        found = dict(self._apply_parts(fn, None if chosen is None else frozenset(chosen)))
        return [found[i] for i in (range(self.num_envs) if chosen is None else chosen)]

    def _apply_parts(self, fn: Callable[[gym.Env], Any], indices: frozenset[int] | None
                     ) -> list[tuple[int, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _set_values(self, name: str, values: Any) -> list[Any]:
        if not isinstance(values, (list, tuple)):
            return [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"set_attr({name!r}, values): got {len(values)} values for {self.num_envs} envs; pass "
                             "one per env (a list or tuple), or one value (not a list or tuple) for all")
        return list(values)

    def __enter__(self) -> "_BatchEnv":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class LocalVectorEnv(_BatchEnv):
    """``num_envs`` environments stepped in this process (the serial baseline of :class:`RemoteVectorEnv`).

    Args:
        env_fns: one function per environment.
        copy: return fresh arrays (True), or the env's own buffers, which the next step overwrites
            (False: unlike ``SyncVectorEnv(copy=False)``, rewards and flags are not copied either).
        autoreset_mode: gymnasium's ``AutoresetMode`` (or its value): SAME_STEP (default), NEXT_STEP or DISABLED.
        info_format: ``"gymnasium"`` (default: ``SyncVectorEnv``'s infos) or ``"fastparl"`` (SAME_STEP only;
            see the module's docstring).
    """

    def __init__(self, env_fns: Sequence[EnvFn], copy: bool = True,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP, info_format: str = "gymnasium"):
        env_fns = list(env_fns)
        if not env_fns:
            raise ValueError("LocalVectorEnv needs at least one env function")
        self._setup(env_fns[0](), len(env_fns), np.zeros, autoreset_mode, info_format)
        self.copy = copy
        self.block = Block(env_fns, self.bufs, 0, self.autoreset_mode, self.keep_infos)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        """Reset the envs: ``seed`` an int (env i gets ``seed + i``), a list (one per env) or None;
        ``options`` passed to each env's reset (``options["reset_mask"]``: reset only those envs)."""
        seeds, options, mask = self._reset_args(seed, options)
        infos = self._reset_infos(self.block.reset(seeds, options, mask))
        return self._obs(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        self._set_actions(actions)
        n = self.block.step()
        return self._result(n, entries=((0, self.block.infos),) if self.keep_infos else ())

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name`` of each env (found through its wrappers), called with the arguments if callable."""
        return tuple(self.block.call(name, args, kwargs))

    def set_attr(self, name: str, values: Any) -> None:
        """Set ``name`` on each env: ``values`` a list or tuple (one per env), or any other value for all."""
        self.block.set_attr(name, self._set_values(name, values))

    def _apply_parts(self, fn: Callable[[gym.Env], Any], indices: frozenset[int] | None) -> list[tuple[int, Any]]:
        return self.block.apply(fn, indices)

    def close_extras(self, **kwargs: Any) -> None:
        if hasattr(self, "block"):
            self.block.close()


@remote_class(wait=False)
class _EnvWorker:
    """An actor that owns one block of environments per group and the shared buffers they write into."""

    def __init__(self, blocks: Sequence[tuple[Sequence[EnvFn], int]], bufs: dict[str, np.ndarray],
                 ctl: np.ndarray | None = None, cpu: int | None = None,
                 autoreset: AutoresetMode = AutoresetMode.SAME_STEP, boxes: Sequence[np.ndarray] | None = None):
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        self.blocks = [Block(fns, bufs, lo, autoreset, boxes is not None) for fns, lo in blocks]
        self.ctl = ctl  # futex words (fastparl.env._futex), when steps are signalled through them
        self.boxes = None if boxes is None else [box.view(np.ndarray) for box in boxes]  # infos, one per block

    def ready(self) -> None:
        """Nothing: the driver's wait for the envs to be made (their errors raise there)."""

    def reset(self, seeds: Sequence[int | None] | None = None, options: dict | None = None,
              mask: Sequence[bool] | None = None) -> list[tuple[int, dict]]:
        return [entry for block in self.blocks for entry in block.reset(seeds, options, mask)]

    def step(self, group: int = -1) -> int:
        """Step the block of ``group`` (-1: every block); returns how many episodes ended."""
        n = 0
        for k in range(len(self.blocks)) if group < 0 else (group,):
            n += self.blocks[k].step()
            if self.boxes is not None:
                post_infos(self.boxes[k], self.blocks[k].infos)
        return n

    def serve(self, actor: int) -> None:
        """Run the steps the driver posts to line ``actor`` of the futex words, until it posts STOP."""
        if self.ctl is None:
            raise RuntimeError("this env worker has no futex words")
        _futex.serve(self.ctl, actor, lambda cmd: self.step(-1 if cmd == _futex.STEP_ALL else cmd))

    def call(self, name: str, args: tuple, kwargs: dict) -> list[tuple[int, list[Any]]]:
        return [(block.lo, block.call(name, args, kwargs)) for block in self.blocks]

    def set_attr(self, name: str, values: Sequence[Any]) -> None:
        for block in self.blocks:
            block.set_attr(name, values)

    def apply(self, fn: Callable[[gym.Env], Any], indices: frozenset[int] | None) -> list[tuple[int, Any]]:
        return [entry for block in self.blocks for entry in block.apply(fn, indices)]

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

    ``call``, ``get_attr``, ``set_attr`` and ``render`` are remote calls to every actor (after the
    actors leave their futex loop, which the next step re-enters): not for the hot path.

    Args:
        env_fns: one picklable function per environment (lambdas are fine: cloudpickle ships them).
        num_actors: how many processes share the environments (contiguous, near-equal blocks).
        copy: return copies of the observation/reward/flag arrays (True), or the shared buffers
            themselves, which the next step of the same environments overwrites (False, zero-copy;
            unlike ``SyncVectorEnv(copy=False)``, rewards and flags are not copied either).
        groups: how many groups of environments can be stepped independently (1: lockstep only).
        futex: signal steps through futexes on shared memory instead of remote calls (about 4x
            less CPU and latency per step); needs Linux on x86-64 and actors that share this
            host's memory.  None (default): whenever that holds.
        pin: pin actor ``a`` to the ``a``-th CPU this process may use (round robin), as
            sample-factory does with its rollout workers: no migrations, warm caches (about +15%
            on 2 cores).  Off by default: on a machine shared with other busy processes a pinned
            actor cannot move away from a loaded CPU.
        autoreset_mode: gymnasium's ``AutoresetMode`` (or its value): SAME_STEP (default), NEXT_STEP or DISABLED.
        info_format: ``"gymnasium"`` (default: ``SyncVectorEnv``'s infos) or ``"fastparl"`` (SAME_STEP only;
            see the module's docstring).
    """

    def __init__(self, env_fns: Sequence[EnvFn], num_actors: int = 2, copy: bool = True, groups: int = 1,
                 futex: bool | None = None, pin: bool = False,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP, info_format: str = "gymnasium"):
        env_fns = list(env_fns)
        self.workers: list[Any] = []
        self._pending: dict[int | None, list[Any]] = {}  # group (None: all) -> futures, or (actor, ticket)s
        self._serving: list[Any] = []  # futex mode: each worker's pending serve() call
        self._lines: list[_futex.DriverSide] = []
        _modes(autoreset_mode, info_format)  # its errors before any actor starts
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
        self._setup(env_fns[0](), len(env_fns), lambda shape, dtype: shared_array(shape, dtype),
                    autoreset_mode, info_format)
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
        # kept infos: one shared byte buffer per block; per group (and for all envs) their (offset, buffer)s
        boxes = [[shared_array((_INFO_BOX_BYTES * len(fns),), np.uint8) for fns, _ in b] for b in blocks] \
            if self.keep_infos else None
        if boxes is not None:
            self._group_boxes = [[(blocks[a][k][1] - s.start, boxes[a][k].view(np.ndarray)) for a, k in ga]
                                 for s, ga in zip(self.group_slices, self._group_actors)]
            self._all_boxes = sorted((lo, boxes[a][k].view(np.ndarray)) for a, b in enumerate(blocks)
                                     for k, (_, lo) in enumerate(b))
            self._group_batches = [_InfoBatch(s.stop - s.start) for s in self.group_slices]
        self.ctl = _futex.words(num_actors, shared_array) if (can_futex if futex is None else futex) else None
        cpus = sorted(os.sched_getaffinity(0)) if pin else []
        if pin and not hasattr(os, "sched_setaffinity"):
            raise ValueError("pin=True needs os.sched_setaffinity (Linux); pass pin=False")
        self.workers = [_EnvWorker(b, self.bufs, self.ctl, cpus[a % len(cpus)] if pin else None,
                                   self.autoreset_mode, None if boxes is None else boxes[a])
                        for a, b in enumerate(blocks)]
        get([w.ready() for w in self.workers])  # type: ignore[func-returns-value]  # errors of making the envs, here

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        """Reset the envs: ``seed`` an int (env i gets ``seed + i``), a list (one per env) or None;
        ``options`` passed to each env's reset (``options["reset_mask"]``: reset only those envs).
        Steps still in flight finish first; their results are dropped."""
        seeds, options, mask = self._reset_args(seed, options)
        self._drain()
        self._stop_serving()
        parts = get([w.reset(seeds, options, mask) for w in self.workers])  # type: ignore[func-returns-value]
        infos = self._reset_infos([entry for part in parts for entry in part])
        return self._obs(), infos

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
        n = self._collect(started)
        if not self.keep_infos:
            return self._result(n, None if group is None else self._group_bufs[group])
        if group is None:
            return self._result(n, None, [(lo, take_infos(box)) for lo, box in self._all_boxes])
        return self._result(n, self._group_bufs[group], [(lo, take_infos(box)) for lo, box in self._group_boxes[group]],
                            self._group_batches[group])

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every environment in lockstep."""
        self.step_async(actions)
        return self.step_wait()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name`` of each env (found through its wrappers), called with the arguments if callable."""
        self._idle(f"call({name!r})")
        parts = get([w.call(name, args, kwargs) for w in self.workers])  # type: ignore[func-returns-value]
        return tuple(x for _, xs in sorted((p for part in parts for p in part), key=lambda p: p[0]) for x in xs)

    def set_attr(self, name: str, values: Any) -> None:
        """Set ``name`` on each env: ``values`` a list or tuple (one per env), or any other value for all."""
        values = self._set_values(name, values)
        self._idle(f"set_attr({name!r})")
        get([w.set_attr(name, values) for w in self.workers])  # type: ignore[func-returns-value]

    def _apply_parts(self, fn: Callable[[gym.Env], Any], indices: frozenset[int] | None) -> list[tuple[int, Any]]:
        self._idle("calling a function on the envs")
        parts = get([w.apply(fn, indices) for w in self.workers])  # type: ignore[func-returns-value]
        return [entry for part in parts for entry in part]

    def _idle(self, what: str) -> None:
        """Before a remote call to every actor: no steps in flight, actors out of their futex loop."""
        if self._pending:
            raise RuntimeError(f"{what}: steps of groups {sorted(self._pending, key=str)} are in flight; call "
                               "step_wait(group) for each first")
        self._stop_serving()
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
        """Finish the steps in flight and drop their results (their infos too: a file they came through goes)."""
        pending, self._pending = self._pending, {}
        for group, started in pending.items():
            self._collect(started)
            if self.keep_infos:
                for _, box in self._all_boxes if group is None else self._group_boxes[group]:
                    take_infos(box)

    def close_extras(self, **kwargs: Any) -> None:
        for stop in (self._drain, self._stop_serving):
            try:
                stop()
            except (FastparlError, RuntimeError):
                pass
        for w in self.workers:
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
                    futex: bool | None = None, pin: bool = False,
                    autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP, info_format: str = "gymnasium",
                    engine: str = "fastparl", **make_kwargs: Any) -> Any:
    """Make ``num_envs`` copies of an environment, in-process (``num_actors=0``) or over actors.

    Args:
        env: a gymnasium id (made with the env checker off, which costs on every step) or a function.
        num_envs: number of environments.
        num_actors: 0 steps them in this process; N > 0 spreads them over N actor processes.
        copy: see :class:`RemoteVectorEnv`.
        groups: see :class:`RemoteVectorEnv` (double-buffered sampling; needs ``num_actors`` > 0).
        futex: see :class:`RemoteVectorEnv` (how steps are signalled to actors).
        pin: see :class:`RemoteVectorEnv` (one CPU per actor).
        autoreset_mode: gymnasium's ``AutoresetMode`` (or its value, e.g. ``"NextStep"``): SAME_STEP
            (default: the returned observation of an ended env starts its next episode), NEXT_STEP
            (gymnasium's default) or DISABLED; see the module's docstring.
        info_format: ``"gymnasium"`` (default: ``SyncVectorEnv``'s infos exactly; episode stats from
            gymnasium's ``RecordEpisodeStatistics``) or ``"fastparl"`` (dense ``final_obs`` and ``episode``
            stats counted in the actors, no env infos; SAME_STEP only).
        engine: ``"fastparl"`` (default: any gymnasium env, stepped here or in fastparl's actors) or
            ``"envpool"`` (opt-in: EnvPool's C++ envs for the ids it has, behind the same interface; see
            :mod:`fastparl.env.envpool_engine` for what it changes).  ``num_actors``, ``copy``, ``groups``,
            ``futex``, ``pin`` and ``info_format`` are fastparl's; EnvPool takes ``make_kwargs``.
        **make_kwargs: passed to ``gymnasium.make`` when ``env`` is an id (to ``envpool.make`` for EnvPool).

    Returns:
        a :class:`LocalVectorEnv` or :class:`RemoteVectorEnv` (an ``EnvPoolVectorEnv`` for EnvPool): all are
        ``gymnasium.vector.VectorEnv``.
    """
    if engine == "envpool":
        if not isinstance(env, str):
            raise TypeError("engine='envpool' takes a gymnasium id that EnvPool implements, not a function")
        if num_actors or groups != 1 or pin:
            raise ValueError("engine='envpool' steps its envs in EnvPool's own threads: num_actors, groups and pin "
                             "are fastparl's; pass num_threads=... for EnvPool instead")
        from fastparl.env.envpool_engine import EnvPoolVectorEnv

        return EnvPoolVectorEnv(env, int(num_envs), autoreset_mode=autoreset_mode, **make_kwargs)
    if engine != "fastparl":
        raise ValueError(f"engine={engine!r}: use 'fastparl' (default) or 'envpool'")
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
    fn = _EnvMaker(env, make_kwargs) if isinstance(env, str) else env
    if not callable(fn):
        raise TypeError(f"env must be a gymnasium id or a function returning an env, got {type(env).__name__}")
    if (groups != 1 or pin) and num_actors < 1:
        raise ValueError(f"groups={groups} and pin={pin} are about actors (groups: actors step one group while the "
                         "driver acts on another): pass num_actors >= 1, or groups=1 and pin=False")
    fns = [fn] * int(num_envs)
    if num_actors > 0:
        return RemoteVectorEnv(fns, num_actors, copy, groups, futex, pin, autoreset_mode, info_format)
    return LocalVectorEnv(fns, copy, autoreset_mode, info_format)


class _EnvMaker:
    """A picklable ``gymnasium.make`` call (by id, so actors import only gymnasium)."""

    def __init__(self, env_id: str, kwargs: dict[str, Any]):
        self.env_id, self.kwargs = env_id, {"disable_env_checker": True, **kwargs}

    def __call__(self) -> gym.Env:
        return gym.make(self.env_id, **self.kwargs)


def _scalar_infos(flat: Sequence[tuple[int, dict, bool]], num_envs: int) -> dict[str, Any] | None:
    """gymnasium's ``_add_info`` over ``flat`` (``(env index, info, _)`` in env order) in one NumPy assignment a key,
    when every value is a Python or NumPy scalar and each key's values are of one type (else None: the general
    path).  The same arrays, dtypes (the first value's type), masks and key order; a step of HalfCheetah's infos
    (4 floats an env) costs ~1.5 µs a value through ``_add_info``."""
    cols: dict[str, tuple[type, list[int], list[Any]]] = {}
    for i, info, _ in flat:
        for key, value in info.items():
            t = type(value)
            col = cols.get(key)
            if col is None:
                if key == "final_obs" or not (t in (int, float, bool) or issubclass(t, np.number)):
                    return None
                col = cols[key] = (t, [], [])
            elif col[0] is not t:
                return None
            col[1].append(i)
            col[2].append(value)
    infos: dict[str, Any] = {}
    for key, (t, rows, values) in cols.items():
        array, mask = np.zeros(num_envs, dtype=t), np.zeros(num_envs, dtype=np.bool_)
        array[rows], mask[rows] = values, True
        infos[key], infos[f"_{key}"] = array, mask
    return infos


def _same(x: np.ndarray) -> np.ndarray:
    return x
