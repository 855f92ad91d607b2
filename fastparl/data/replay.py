"""Replay memories with PARL's API (``parl.utils.ReplayMemory``), uniform and prioritized.

Storage is preallocated NumPy; ``save``/``load`` use ``np.savez`` with PARL's keys (``obs``, ``action``,
``reward``, ``terminal``, ``next_obs``, ``other``), so files are exchangeable with PARL.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from fastparl.kernels.sumtree import SumTree

__all__ = ["PrioritizedReplayMemory", "ReplayMemory"]

_log = logging.getLogger(__name__)

Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _dims(name: str, dim: Any) -> tuple[int, ...]:
    if isinstance(dim, (numbers.Integral,)) and not isinstance(dim, bool):
        return () if int(dim) == 0 and name == "act_dim" else (int(dim),)
    try:
        dims = tuple(int(d) for d in dim)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {dim!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name} must be non-negative, got {dim!r}")
    return dims


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator | None:
    """A generator from ``rng``; None stands for NumPy's global generator (``np.random.seed`` seeds it)."""
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class ReplayMemory:
    """Uniform ring-buffer replay memory, a drop-in for ``parl.utils.ReplayMemory``.

    Args:
        max_size: capacity in transitions.
        obs_dim: observation shape, an int or a tuple (e.g. ``(4, 84, 84)``).
        act_dim: action shape; ``0`` stores one int32 action per transition (discrete control, as PARL),
            otherwise float32 actions of shape ``act_dim``.
        rng: ``numpy.random.Generator`` or seed for sampling.  Default: NumPy's global generator, as in
            PARL (``np.random.randint``), so a script that calls ``np.random.seed`` samples the same
            batches as with PARL.
        obs_dtype: dtype of ``obs``/``next_obs`` (PARL: float32; uint8 saves 4x for images).

    Raises:
        ValueError: if max_size < 1 or a dimension is negative.
        TypeError: if a dimension is not an int or tuple of ints.
    """

    def __init__(self, max_size: int, obs_dim: int | tuple[int, ...], act_dim: int | tuple[int, ...],
                 rng: np.random.Generator | int | None = None, obs_dtype: npt.DTypeLike = np.float32) -> None:
        if isinstance(max_size, bool) or int(max_size) < 1:
            raise ValueError(f"max_size must be an int >= 1, got {max_size!r}")
        self.max_size = int(max_size)
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        obs_shape = _dims("obs_dim", obs_dim)
        act_shape = _dims("act_dim", act_dim)
        act_dtype = np.int32 if act_shape == () else np.float32
        self.obs = np.zeros((self.max_size, *obs_shape), dtype=obs_dtype)
        self.action = np.zeros((self.max_size, *act_shape), dtype=act_dtype)
        self.reward = np.zeros((self.max_size,), dtype=np.float32)
        self.terminal = np.zeros((self.max_size,), dtype=np.bool_)
        self.next_obs = np.zeros((self.max_size, *obs_shape), dtype=obs_dtype)
        self.rng = _generator(rng)
        self._curr_size = 0
        self._curr_pos = 0

    def _check_nonempty(self, batch_size: int) -> None:
        if self._curr_size == 0:
            raise ValueError("cannot sample from an empty ReplayMemory; append transitions first")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")

    def make_index(self, batch_size: int) -> npt.NDArray[np.int64]:
        """Draw ``batch_size`` indices uniformly (with replacement) from the stored transitions."""
        self._check_nonempty(batch_size)
        if self.rng is None:
            return np.random.randint(self._curr_size, size=batch_size)  # PARL's draw, from the global generator
        return self.rng.integers(0, self._curr_size, size=batch_size)

    def _uniform(self, size: int) -> npt.NDArray[np.float64]:
        """``size`` draws in [0, 1) from :attr:`rng` (the global generator when it is None)."""
        return np.random.random(size) if self.rng is None else self.rng.random(size)

    def sample_batch_by_index(self, batch_idx: npt.ArrayLike) -> Batch:
        """Gather ``(obs, action, reward, next_obs, terminal)`` at ``batch_idx`` (copies)."""
        idx = np.asarray(batch_idx)
        return (self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx], self.terminal[idx])

    def sample_batch(self, batch_size: int) -> Batch:
        """Uniform random batch ``(obs, action, reward, next_obs, terminal)``.

        Shapes: obs/next_obs ``(B, *obs_dim)``, action ``(B,)`` int32 or ``(B, *act_dim)`` float32,
        reward ``(B,)`` float32, terminal ``(B,)`` bool.

        Raises:
            ValueError: if the memory is empty or batch_size < 1.
        """
        return self.sample_batch_by_index(self.make_index(batch_size))

    def append(self, obs: npt.ArrayLike, act: npt.ArrayLike, reward: float, next_obs: npt.ArrayLike,
               terminal: bool) -> None:
        """Store one transition, overwriting the oldest when full."""
        pos = self._curr_pos
        self.obs[pos] = obs
        self.action[pos] = act
        self.reward[pos] = reward
        self.next_obs[pos] = next_obs
        self.terminal[pos] = terminal
        self._after_append(pos)
        if self._curr_size < self.max_size:
            self._curr_size += 1
        self._curr_pos = (pos + 1) % self.max_size

    def _after_append(self, pos: int) -> None:
        """Hook for subclasses (prioritized replay sets the new slot's priority)."""

    def size(self) -> int:
        """Number of stored transitions."""
        return self._curr_size

    def __len__(self) -> int:
        return self._curr_size

    def _save_dict(self) -> dict[str, np.ndarray]:
        other = np.array([self._curr_size, self._curr_pos], dtype=np.int32)
        return {"obs": self.obs, "action": self.action, "reward": self.reward, "terminal": self.terminal,
                "next_obs": self.next_obs, "other": other}

    def save(self, pathname: str) -> None:
        """Save to ``pathname`` (``.npz``, NumPy appends the suffix if missing); PARL-compatible keys."""
        np.savez(pathname, **self._save_dict())  # type: ignore[arg-type]  # numpy's stub types **kwds oddly

    def load(self, pathname: str) -> None:
        """Load a file written by :meth:`save` (or by PARL), keeping at most ``max_size`` transitions."""
        with np.load(pathname) as data:
            other = data["other"]
            if int(other[0]) > self.max_size:
                _log.warning("loading from a bigger size rpm: %d transitions into max_size %d",
                             int(other[0]), self.max_size)
            self._curr_size = min(int(other[0]), self.max_size)
            self._curr_pos = min(int(other[1]), self.max_size - 1)
            n = self._curr_size
            for key in ("obs", "action", "reward", "terminal", "next_obs"):
                arr = data[key]
                dst = getattr(self, key)
                if arr.shape[1:] != dst.shape[1:]:
                    raise ValueError(f"{pathname}: {key} has per-item shape {arr.shape[1:]}, this memory has "
                                     f"{dst.shape[1:]}; create the memory with the same obs_dim/act_dim")
                dst[:n] = arr[:n]
            self._load_extra(data)

    def _load_extra(self, data: Any) -> None:
        """Hook for subclasses, called after the arrays were loaded (``data`` is the npz file or ``{}``)."""

    def load_from_d4rl(self, dataset: dict[str, np.ndarray]) -> None:
        """Copy a D4RL ``qlearning_dataset`` dict (observations, actions, ...) into the memory.

        Raises:
            KeyError: if a required key is missing.
            ValueError: if the dataset is larger than ``max_size``.
        """
        keys = {"observations": "obs", "next_observations": "next_obs", "actions": "action",
                "rewards": "reward", "terminals": "terminal"}
        missing = [k for k in keys if k not in dataset]
        if missing:
            raise KeyError(f"dataset lacks {missing}; pass d4rl.qlearning_dataset(env)")
        n = len(dataset["terminals"])
        if n > self.max_size:
            raise ValueError(f"dataset has {n} transitions but max_size is {self.max_size}; use max_size >= {n}")
        for src, dst in keys.items():
            getattr(self, dst)[:n] = np.asarray(dataset[src]).reshape(getattr(self, dst)[:n].shape)
        self._curr_size = n
        self._curr_pos = n % self.max_size
        self._load_extra({})


class PrioritizedReplayMemory(ReplayMemory):
    """Proportional prioritized replay (Schaul et al. 2016, arXiv:1511.05952) over a :class:`SumTree`.

    Priority ``p_i = (|td_error_i| + eps) ** alpha``; draws are stratified with ``P(i) = p_i / sum p``;
    importance weights ``w_i = (size * P(i)) ** -beta / max_j w_j`` (the max over stored transitions,
    i.e. at the smallest priority).  New transitions get the current maximum priority (1.0 at first).

    Args:
        max_size: capacity in transitions.
        obs_dim: observation shape (int or tuple).
        act_dim: action shape, 0 for a scalar int32 action.
        alpha: prioritization exponent, 0 = uniform.
        beta: importance-sampling exponent (anneal it towards 1 by assigning ``memory.beta``).
        eps: added to ``|td_error|`` so no transition has zero priority.
        rng: generator or seed (default: NumPy's global generator).
        obs_dtype: dtype of observations.
    """

    def __init__(self, max_size: int, obs_dim: int | tuple[int, ...], act_dim: int | tuple[int, ...],
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6,
                 rng: np.random.Generator | int | None = None, obs_dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__(max_size, obs_dim, act_dim, rng=rng, obs_dtype=obs_dtype)
        if alpha < 0 or beta < 0 or eps < 0:
            raise ValueError(f"alpha, beta and eps must be >= 0, got alpha={alpha}, beta={beta}, eps={eps}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.eps = float(eps)
        self.tree = SumTree(self.max_size)

    def _after_append(self, pos: int) -> None:
        p = self.tree.max_priority
        self.tree.update(np.array([pos]), np.array([p if p > 0.0 else 1.0]))

    def sample_batch(self, batch_size: int, beta: float | None = None,  # type: ignore[override]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Prioritized batch ``(obs, action, reward, next_obs, terminal, weights, indices)``.

        Args:
            batch_size: number of transitions.
            beta: overrides :attr:`beta` for this call.

        Returns:
            The five PARL arrays, then ``weights`` ``(B,)`` float32 in (0, 1] and ``indices`` ``(B,)`` int64
            to pass back to :meth:`update_priorities`.
        """
        self._check_nonempty(batch_size)
        b = self.beta if beta is None else float(beta)
        # stratified draws: one uniform point in each of batch_size equal slices of the total priority
        total = self.tree.total
        u = (np.arange(batch_size, dtype=np.float64) + self._uniform(batch_size)) * (total / batch_size)
        indices, p = self.tree.find(np.minimum(u, np.nextafter(total, 0.0)))
        weights = (p / self.tree.min_priority) ** (-b)  # == (N P(i))^-b / (N P_min)^-b
        obs, act, rew, nxt, term = self.sample_batch_by_index(indices)
        return obs, act, rew, nxt, term, weights.astype(np.float32), indices

    def update_priorities(self, indices: npt.ArrayLike, td_errors: npt.ArrayLike) -> None:
        """Set priorities ``(|td_errors| + eps) ** alpha`` at ``indices`` (from :meth:`sample_batch`)."""
        td = np.abs(np.asarray(td_errors, dtype=np.float64).reshape(-1))
        idx = np.asarray(indices).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self._curr_size):
            raise ValueError(f"indices must lie in [0, {self._curr_size}) (stored transitions), "
                             f"got min {idx.min()} and max {idx.max()}")
        self.tree.update(idx, (td + self.eps) ** self.alpha)

    def _save_dict(self) -> dict[str, np.ndarray]:
        d = super()._save_dict()
        d["priorities"] = self.tree.priorities.copy()
        return d

    def _load_extra(self, data: Any) -> None:
        pr = np.zeros(self.max_size, dtype=np.float64)
        if "priorities" in data:
            src = data["priorities"][:self._curr_size]
            pr[:len(src)] = src
        else:  # a uniform (e.g. PARL) file: every loaded transition gets priority 1
            pr[:self._curr_size] = 1.0
        self.tree.set_all(pr)
