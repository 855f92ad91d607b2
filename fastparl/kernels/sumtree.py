"""Sum tree (with min and max trees) for prioritized replay: NumPy arrays plus numba helpers."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["SumTree"]


@numba.njit(cache=True, nogil=True)
def _update(sums: np.ndarray, mins: np.ndarray, maxs: np.ndarray, base: int, indices: np.ndarray,
            priorities: np.ndarray) -> None:  # pragma: no cover - compiled
    for k in range(indices.shape[0]):
        i = indices[k] + base
        p = priorities[k]
        sums[i] = p
        mins[i] = p if p > 0.0 else np.inf  # min over positive priorities (zero leaves are never drawn)
        maxs[i] = p
        i //= 2
        while i >= 1:
            sums[i] = sums[2 * i] + sums[2 * i + 1]
            mins[i] = min(mins[2 * i], mins[2 * i + 1])
            maxs[i] = max(maxs[2 * i], maxs[2 * i + 1])
            i //= 2


@numba.njit(cache=True, nogil=True)
def _rebuild(sums: np.ndarray, mins: np.ndarray, maxs: np.ndarray, base: int) -> None:  # pragma: no cover
    for i in range(base - 1, 0, -1):
        sums[i] = sums[2 * i] + sums[2 * i + 1]
        mins[i] = min(mins[2 * i], mins[2 * i + 1])
        maxs[i] = max(maxs[2 * i], maxs[2 * i + 1])


@numba.njit(cache=True, nogil=True)
def _find(sums: np.ndarray, base: int, targets: np.ndarray, out_idx: np.ndarray,
          out_p: np.ndarray) -> None:  # pragma: no cover - compiled
    for k in range(targets.shape[0]):
        u = targets[k]
        i = 1
        while i < base:
            left = sums[2 * i]
            # Go right only into a subtree with mass: float rounding can never end on an empty leaf.
            if (u >= left and sums[2 * i + 1] > 0.0) or left <= 0.0:
                u -= left
                i = 2 * i + 1
            else:
                i = 2 * i
        out_idx[k] = i - base
        out_p[k] = sums[i]


class SumTree:
    """Binary sum tree over ``capacity`` non-negative priorities, with O(1) total/min/max.

    Leaves live at ``[base, base + capacity)`` of float64 arrays of length ``2 * base``, where
    ``base`` is ``capacity`` rounded up to a power of two; node i has children 2i and 2i+1.  Three
    trees are kept in step (sum, min, max), so :attr:`total`, :attr:`min_priority` and
    :attr:`max_priority` read one element.  ``update`` costs O(B log capacity), ``sample`` O(B log capacity).

    Args:
        capacity: number of leaves (the replay memory's ``max_size``), >= 1.

    Raises:
        ValueError: if capacity < 1.
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1, got {capacity!r}")
        self.capacity = int(capacity)
        self._base = 1 << max(0, (self.capacity - 1).bit_length())
        self._sums = np.zeros(2 * self._base, dtype=np.float64)
        self._mins = np.full(2 * self._base, np.inf, dtype=np.float64)
        self._maxs = np.zeros(2 * self._base, dtype=np.float64)

    def __len__(self) -> int:
        return self.capacity

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self._sums[1])

    @property
    def max_priority(self) -> float:
        """Largest priority stored (0.0 when nothing was set)."""
        return float(self._maxs[1])

    @property
    def min_priority(self) -> float:
        """Smallest positive priority (0.0 when no priority is positive)."""
        m = float(self._mins[1])
        return 0.0 if m == np.inf else m

    @property
    def priorities(self) -> npt.NDArray[np.float64]:
        """Read-only view of the ``capacity`` leaf priorities (unset leaves read 0)."""
        view = self._sums[self._base:self._base + self.capacity]
        view.flags.writeable = False
        return view

    def _check_indices(self, indices: npt.ArrayLike) -> npt.NDArray[np.int64]:
        idx = np.asarray(indices)
        if idx.ndim > 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise TypeError(f"indices must be a 1-D integer array, got dtype {idx.dtype} and shape {idx.shape}")
        idx = np.ascontiguousarray(idx.reshape(-1), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            raise ValueError(f"indices must lie in [0, {self.capacity}), got min {idx.min()} and max {idx.max()}")
        return idx

    def get(self, indices: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Priorities stored at ``indices`` (float64 array)."""
        return self._sums[self._check_indices(indices) + self._base]

    def update(self, indices: npt.ArrayLike, priorities: npt.ArrayLike) -> None:
        """Set ``priorities[k]`` at leaf ``indices[k]`` (vectorised; the last one wins for repeats).

        Args:
            indices: 1-D ints in ``[0, capacity)`` (a scalar is accepted).
            priorities: finite values >= 0, one per index (a scalar broadcasts).

        Raises:
            ValueError: on out-of-range indices, negative/non-finite priorities or mismatched lengths.
            TypeError: on non-integer indices.
        """
        idx = self._check_indices(np.atleast_1d(indices))
        pr = np.asarray(priorities, dtype=np.float64)
        if pr.ndim == 0:
            pr = np.full(idx.shape, float(pr))
        pr = np.ascontiguousarray(pr.reshape(-1))
        if pr.shape != idx.shape:
            raise ValueError(f"got {idx.size} indices but {pr.size} priorities; pass one priority per index")
        if pr.size and not (np.isfinite(pr).all() and pr.min() >= 0.0):
            raise ValueError(f"priorities must be finite and >= 0, got min {pr.min()} and max {pr.max()}")
        _update(self._sums, self._mins, self._maxs, self._base, idx, pr)

    def set_all(self, priorities: npt.ArrayLike) -> None:
        """Replace every leaf (``capacity`` values, e.g. when loading) and rebuild in O(capacity)."""
        pr = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if pr.shape != (self.capacity,):
            raise ValueError(f"set_all needs {self.capacity} priorities, got {pr.size}")
        if not (np.isfinite(pr).all() and (pr.size == 0 or pr.min() >= 0.0)):
            raise ValueError("priorities must be finite and >= 0")
        b, c = self._base, self.capacity
        self._sums[b:] = 0.0
        self._mins[b:] = np.inf
        self._maxs[b:] = 0.0
        self._sums[b:b + c] = pr
        self._maxs[b:b + c] = pr
        self._mins[b:b + c] = np.where(pr > 0.0, pr, np.inf)
        _rebuild(self._sums, self._mins, self._maxs, b)

    def find(self, targets: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Leaves whose prefix-sum interval holds each target in ``[0, total)``: ``(indices, priorities)``."""
        u = np.ascontiguousarray(np.atleast_1d(np.asarray(targets, dtype=np.float64)).reshape(-1))
        if self.total <= 0.0:
            raise ValueError("cannot search an empty SumTree (total priority is 0); update some priorities first")
        idx = np.empty(u.shape[0], dtype=np.int64)
        p = np.empty(u.shape[0], dtype=np.float64)
        _find(self._sums, self._base, u, idx, p)
        return idx, p

    def sample(self, batch_size: int, rng: np.random.Generator | int | None = None,
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Stratified proportional sampling: one leaf from each of ``batch_size`` equal slices of ``total``.

        Leaf i is drawn with probability ``p_i / total`` (each draw; draws are stratified, hence not iid).

        Args:
            batch_size: number of indices, >= 1.
            rng: a ``numpy.random.Generator``, a seed, or None for a fresh generator.

        Returns:
            ``(indices, priorities)``: int64 leaf indices and their float64 priorities.

        Raises:
            ValueError: if the tree is empty or batch_size < 1.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        total = self.total
        seg = total / batch_size
        u = (np.arange(batch_size, dtype=np.float64) + gen.random(batch_size)) * seg
        np.minimum(u, np.nextafter(total, 0.0), out=u)
        return self.find(u)

    def state_dict(self) -> dict[str, Any]:
        """The leaf priorities, for saving (see :meth:`set_all`)."""
        return {"capacity": self.capacity, "priorities": self.priorities.copy()}
