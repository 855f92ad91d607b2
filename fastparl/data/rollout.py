"""On-policy rollout storage: preallocated time-major ``(T, N)`` arrays plus GAE and minibatching."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from fastparl.kernels.gae import gae

__all__ = ["RolloutStorage"]


def _shape(name: str, shape: int | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),) if shape > 0 else ()
    try:
        return tuple(int(s) for s in shape)  # type: ignore[union-attr]  # a bool was excluded above
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {shape!r}") from None


class RolloutStorage:
    """Fixed-size buffer of ``num_steps`` x ``num_envs`` transitions for PPO/A2C-style algorithms.

    Arrays (all time-major, ``T = num_steps``, ``N = num_envs``), public attributes:

    ========================  ====================  =========
    name                      shape                 dtype
    ========================  ====================  =========
    ``obs``                   ``(T, N, *obs_shape)``  obs_dtype
    ``actions``               ``(T, N, *act_shape)``  act_dtype
    ``logprobs``              ``(T, N)``            float32
    ``rewards``               ``(T, N)``            float32
    ``terminated``            ``(T, N)``            bool
    ``truncated``             ``(T, N)``            bool
    ``values``                ``(T, N)``            float32
    ``bootstrap_values``      ``(T, N)``            float32 (V(true final obs) at truncated steps)
    ``advantages``            ``(T, N)``            float32 (filled by :meth:`compute_returns`)
    ``returns``               ``(T, N)``            float32 (filled by :meth:`compute_returns`)
    ========================  ====================  =========

    Fill it with :meth:`append` (one step for all envs) or by assigning rows directly
    (``storage.obs[t] = ...``).  Any array can be supplied preallocated through ``arrays``
    (e.g. shared memory); it is used as is, without a copy.

    Args:
        num_steps: T, steps per env per rollout.
        num_envs: N, number of envs.
        obs_shape: shape of one observation (int or tuple).
        act_shape: shape of one action; ``()`` or ``0`` for a scalar (discrete) action.
        act_dtype: dtype of actions (e.g. ``np.int64`` for discrete).
        obs_dtype: dtype of observations.
        arrays: optional preallocated arrays by name (see table); shape and dtype must match.

    Raises:
        ValueError: on a non-positive size or a supplied array of the wrong shape/dtype or unknown name.
    """

    FIELDS: tuple[str, ...] = ("obs", "actions", "logprobs", "rewards", "terminated", "truncated", "values", "bootstrap_values",
              "advantages", "returns")

    def __init__(self, num_steps: int, num_envs: int, obs_shape: int | tuple[int, ...],
                 act_shape: int | tuple[int, ...], act_dtype: npt.DTypeLike = np.float32,
                 obs_dtype: npt.DTypeLike = np.float32, arrays: dict[str, np.ndarray] | None = None) -> None:
        if int(num_steps) < 1 or int(num_envs) < 1:
            raise ValueError(f"num_steps and num_envs must be >= 1, got {num_steps} and {num_envs}")
        self.num_steps, self.num_envs = int(num_steps), int(num_envs)
        self.obs_shape = _shape("obs_shape", obs_shape)
        self.act_shape = _shape("act_shape", act_shape)
        specs = self.array_specs(num_steps, num_envs, obs_shape, act_shape, act_dtype, obs_dtype)
        given = dict(arrays or {})
        unknown = set(given) - set(self.FIELDS)
        if unknown:
            raise ValueError(f"unknown array names {sorted(unknown)}; valid names are {list(self.FIELDS)}")
        for name, (shape, dtype) in specs.items():
            if name in given:
                arr = given[name]
                if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != dtype:
                    got = (getattr(arr, "shape", None), getattr(arr, "dtype", type(arr).__name__))
                    raise ValueError(f"arrays[{name!r}] must be an ndarray of shape {shape} and dtype {dtype}, "
                                     f"got shape {got[0]} and dtype {got[1]}")
            else:
                arr = np.zeros(shape, dtype=dtype)
            setattr(self, name, arr)
        self.step = 0

    # Attributes set through setattr above, declared for type checkers.
    obs: np.ndarray
    actions: np.ndarray
    logprobs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    values: np.ndarray
    bootstrap_values: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray

    def append(self, obs: npt.ArrayLike, actions: npt.ArrayLike, logprobs: npt.ArrayLike, rewards: npt.ArrayLike,
               terminated: npt.ArrayLike, values: npt.ArrayLike, truncated: npt.ArrayLike | None = None,
               bootstrap_values: npt.ArrayLike | None = None) -> None:
        """Store one step for all envs at row :attr:`step` and advance it.

        Args:
            obs: ``(N, *obs_shape)`` observations the actions were taken from.
            actions: ``(N, *act_shape)``.
            logprobs: ``(N,)`` log-probabilities of the actions under the acting policy.
            rewards: ``(N,)``.
            terminated: ``(N,)`` terminal flags after this step.
            values: ``(N,)`` V(obs).
            truncated: ``(N,)`` time-limit flags after this step (default all False).
            bootstrap_values: ``(N,)`` V(true final obs) where truncated (default 0).

        Raises:
            IndexError: if the storage is full (call :meth:`reset`).
        """
        t = self.step
        if t >= self.num_steps:
            raise IndexError(f"RolloutStorage is full ({self.num_steps} steps); call reset() before appending")
        self.obs[t] = obs
        self.actions[t] = actions
        self.logprobs[t] = logprobs
        self.rewards[t] = rewards
        self.terminated[t] = terminated
        self.values[t] = values
        self.truncated[t] = False if truncated is None else truncated
        self.bootstrap_values[t] = 0.0 if bootstrap_values is None else bootstrap_values
        self.step = t + 1

    @property
    def num_filled(self) -> int:
        """Rows in use: :attr:`step` if :meth:`append` was used since :meth:`reset`, else all ``num_steps``."""
        return self.step if self.step > 0 else self.num_steps

    def compute_returns(self, last_values: npt.ArrayLike, gamma: float,
                        gae_lambda: float) -> tuple[np.ndarray, np.ndarray]:
        """Fill :attr:`advantages` and :attr:`returns` with GAE (:func:`fastparl.kernels.gae`).

        Uses ``terminated``, ``truncated`` and ``bootstrap_values`` of the filled rows.

        Args:
            last_values: ``(N,)`` value of the observation after the last stored step.
            gamma: discount.
            gae_lambda: GAE lambda.

        Returns:
            Views ``(advantages, returns)`` of the filled rows, shape ``(num_filled, N)``.
        """
        n = self.num_filled
        adv, ret = gae(self.rewards[:n], self.values[:n], self.terminated[:n], last_values, gamma, gae_lambda,
                       truncated=self.truncated[:n], bootstrap_values=self.bootstrap_values[:n])
        self.advantages[:n] = adv
        self.returns[:n] = ret
        return self.advantages[:n], self.returns[:n]

    def minibatches(self, batch_size: int, rng: np.random.Generator | int | None = None,
                    drop_last: bool = False) -> Iterator[dict[str, np.ndarray]]:
        """Yield shuffled minibatches over all ``num_filled * N`` flattened transitions.

        Each batch is a dict with ``obs`` ``(B, *obs_shape)``, ``actions`` ``(B, *act_shape)`` and
        ``logprobs``, ``advantages``, ``returns``, ``values`` ``(B,)`` (copies).  Every transition
        appears exactly once per pass; the last batch is smaller unless ``drop_last``.

        Raises:
            ValueError: if batch_size < 1.
        """
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        n = self.num_filled
        total = n * self.num_envs
        flat = {
            "obs": self.obs[:n].reshape(total, *self.obs_shape),
            "actions": self.actions[:n].reshape(total, *self.act_shape),
            "logprobs": self.logprobs[:n].reshape(total),
            "advantages": self.advantages[:n].reshape(total),
            "returns": self.returns[:n].reshape(total),
            "values": self.values[:n].reshape(total),
        }
        perm = gen.permutation(total)
        stop = total - total % batch_size if drop_last else total
        for start in range(0, stop, batch_size):
            idx = perm[start:start + batch_size]
            yield {k: a[idx] for k, a in flat.items()}

    def reset(self) -> None:
        """Start a new rollout: ``step = 0`` and episode-end flags cleared (data arrays are kept)."""
        self.step = 0
        self.terminated[...] = False
        self.truncated[...] = False
        self.bootstrap_values[...] = 0.0

    def save(self, path: str) -> None:
        """Save every array and :attr:`step` with ``np.savez``."""
        np.savez(path, step=np.array(self.step), **{k: getattr(self, k) for k in self.FIELDS})

    def load(self, path: str) -> None:
        """Load a file from :meth:`save` into the existing arrays (in place, so shared arrays stay shared).

        Raises:
            ValueError: if a stored array's shape differs from this storage's.
        """
        with np.load(path) as data:
            for k in self.FIELDS:
                dst = getattr(self, k)
                if data[k].shape != dst.shape:
                    raise ValueError(f"{path}: {k} has shape {data[k].shape}, this storage has {dst.shape}")
                dst[...] = data[k]
            self.step = int(data["step"])

    @classmethod
    def array_specs(cls, num_steps: int, num_envs: int, obs_shape: int | tuple[int, ...],
                    act_shape: int | tuple[int, ...], act_dtype: npt.DTypeLike = np.float32,
                    obs_dtype: npt.DTypeLike = np.float32) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """``{name: (shape, dtype)}`` of every array, e.g. to allocate shared memory to pass as ``arrays``."""
        T, N = int(num_steps), int(num_envs)
        specs: dict[str, tuple[tuple[int, ...], np.dtype]] = {
            "obs": ((T, N, *_shape("obs_shape", obs_shape)), np.dtype(obs_dtype)),
            "actions": ((T, N, *_shape("act_shape", act_shape)), np.dtype(act_dtype)),
            "terminated": ((T, N), np.dtype(np.bool_)),
            "truncated": ((T, N), np.dtype(np.bool_)),
        }
        for name in ("logprobs", "rewards", "values", "bootstrap_values", "advantages", "returns"):
            specs[name] = ((T, N), np.dtype(np.float32))
        return specs
