"""Evolution Strategies (Salimans et al. 2017, arXiv:1703.03864), as PARL's ``ES`` and its helpers.

PARL keeps ES in ``examples/ES``: ``ES(model)`` only predicts (the weights are updated in numpy,
by the agent), ``SharedNoiseTable`` is the table of Gaussian noise that learner and actors index
by offset, ``utils.compute_centered_ranks`` / ``batched_weighted_sum`` / ``unflatten`` shape the
fitness and the gradient, and ``optimizers.Adam`` / ``SGD`` take the step.  All of them are here,
with the same names, arguments and results.  Additions: flat-weight methods on :class:`ES` (PARL
has them on ``MujocoAgent``), and a ``shared=True`` noise table that lives in shared memory
(``fastparl.shared_array``), so N actors map one table instead of building N copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from fastparl.core import Algorithm, Model, check_model_method

__all__ = [
    "ES",
    "SGD",
    "Adam",
    "Optimizer",
    "SharedNoiseTable",
    "batched_weighted_sum",
    "compute_centered_ranks",
    "compute_ranks",
    "itergroups",
    "unflatten",
]

_CHUNK = 1 << 22  # noise is generated in chunks of 4M values (same stream as one call)


class ES(Algorithm):
    """ES: a policy model whose weights are perturbed and updated as one flat vector, in numpy.

    Args:
        model: a :class:`fastparl.Model` whose ``forward(obs)`` returns the policy's output.

    Raises:
        ModelMethodError: if the model does not define ``forward``.
    """

    def __init__(self, model: Model) -> None:
        check_model_method(model, "forward", type(self).__name__)
        super().__init__(model)
        weights = self.model.get_weights()
        self.weights_name: list[str] = list(weights)
        self.weights_shapes: list[tuple[int, ...]] = [tuple(w.shape) for w in weights.values()]
        self.weights_total_size = int(sum(int(np.prod(s)) for s in self.weights_shapes))

    def predict(self, obs: Any) -> Any:
        """The model's output for ``obs`` (PARL: ``self.model(obs)``), without building a graph.

        Args:
            obs: ``(B, *obs_shape)`` float32 tensor (or numpy array).
        """
        import paddle

        with paddle.no_grad():
            return self.model(obs if isinstance(obs, paddle.Tensor) else paddle.to_tensor(obs, dtype="float32"))

    def get_flat_weights(self) -> np.ndarray:
        """All weights, concatenated in :attr:`weights_name` order, as one float32 vector."""
        return np.concatenate([np.asarray(w, np.float32).ravel() for w in self.model.get_weights().values()])

    def set_flat_weights(self, flat_weights: np.ndarray) -> None:
        """Set all weights from a flat vector (the layout of :meth:`get_flat_weights`).

        Raises:
            ValueError: if ``flat_weights`` does not have ``weights_total_size`` elements.
        """
        flat = np.asarray(flat_weights, np.float32).ravel()
        if flat.size != self.weights_total_size:
            raise ValueError(f"ES.set_flat_weights: expected {self.weights_total_size} values "
                             f"(ES.weights_total_size), got {flat.size}; pass ES.get_flat_weights()'s layout")
        self.model.set_weights(dict(zip(self.weights_name, unflatten(flat, self.weights_shapes), strict=True)))


class SharedNoiseTable:
    """A table of float32 standard-normal noise that learner and actors index by offset.

    ``SharedNoiseTable(noise_size, seed)`` builds the same table as PARL (``RandomState(seed).randn``),
    so perturbations travel as indices.  With ``shared=True`` the table is a ``fastparl.shared_array``:
    pass :attr:`noise` to N actors and they all map this one copy (PARL builds one per actor).
    ``SharedNoiseTable.from_array(noise)`` wraps the table an actor received.

    Args:
        noise_size: number of float32 values (4 bytes each).
        seed: seed of the noise (PARL's default 1024).
        shared: allocate the table in shared memory.

    Raises:
        ValueError: if ``noise_size`` < 1.
    """

    def __init__(self, noise_size: int, seed: int = 1024, shared: bool = False) -> None:
        if int(noise_size) < 1:
            raise ValueError(f"SharedNoiseTable needs noise_size >= 1, got {noise_size}")
        self.noise_size = int(noise_size)
        self.seed: int | None = seed
        self.shared = shared
        self.noise = self._create_noise()

    def _create_noise(self) -> np.ndarray:
        if self.shared:
            from fastparl.remote import shared_array

            noise: np.ndarray = shared_array(self.noise_size, np.float32)
        else:
            noise = np.empty(self.noise_size, np.float32)
        rs = np.random.RandomState(self.seed)
        for start in range(0, self.noise_size, _CHUNK):  # no float64 copy of the whole table
            stop = min(start + _CHUNK, self.noise_size)
            noise[start:stop] = rs.randn(stop - start)
        return noise

    @classmethod
    def from_array(cls, noise: np.ndarray) -> SharedNoiseTable:
        """Wrap an existing table (e.g. the shared one an actor received), without copying it."""
        table = cls.__new__(cls)
        table.noise = noise
        table.noise_size, table.seed, table.shared = len(noise), None, True
        return table

    def get(self, i: int, dim: int) -> np.ndarray:
        """The ``dim`` values from offset ``i`` (a view, not a copy)."""
        return self.noise[i:i + dim]

    def sample_index(self, dim: int, rng: np.random.Generator | np.random.RandomState | None = None) -> int:
        """A random offset where ``dim`` values fit (``rng`` defaults to ``np.random``, as PARL).

        Raises:
            ValueError: if ``dim`` is larger than the table.
        """
        if dim > len(self.noise):
            raise ValueError(f"noise table of {len(self.noise)} values is smaller than the {dim} weights; "
                             f"build it with noise_size >= {dim} (PARL uses 250M)")
        high = len(self.noise) - dim + 1
        if isinstance(rng, np.random.Generator):
            return int(rng.integers(0, high))
        return int((rng or np.random).randint(0, high))


def compute_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of a 1-D array in ``[0, len(x))`` (ties broken by position; scipy's are 1-based).

    Raises:
        ValueError: if ``x`` is not 1-D.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"compute_ranks expects a 1-D array, got shape {x.shape}; use compute_centered_ranks")
    ranks = np.empty(len(x), dtype=int)
    ranks[x.argsort()] = np.arange(len(x))
    return ranks


def compute_centered_ranks(x: np.ndarray) -> np.ndarray:
    """Fitness shaping: the ranks of all entries of ``x``, scaled to ``[-0.5, 0.5]``, float32, shape of ``x``.

    Raises:
        ValueError: if ``x`` has fewer than two entries.
    """
    x = np.asarray(x)
    if x.size < 2:
        raise ValueError(f"compute_centered_ranks needs at least 2 values, got {x.size}")
    y = compute_ranks(x.ravel()).reshape(x.shape).astype(np.float32)
    y /= x.size - 1
    y -= 0.5
    return y


def itergroups(items: Iterable[Any], group_size: int) -> Iterator[tuple[Any, ...]]:
    """Consecutive tuples of ``group_size`` items (the last may be shorter).

    Raises:
        ValueError: if ``group_size`` < 1.
    """
    if group_size < 1:
        raise ValueError(f"itergroups needs group_size >= 1, got {group_size}")
    group: list[Any] = []
    for x in items:
        group.append(x)
        if len(group) == group_size:
            yield tuple(group)
            group.clear()
    if group:
        yield tuple(group)


def batched_weighted_sum(weights: Iterable[float], vecs: Iterable[np.ndarray], batch_size: int
                         ) -> tuple[np.ndarray, int]:
    """``sum_i weights[i] * vecs[i]`` in float32, ``batch_size`` vectors at a time.

    Returns:
        ``(total, num_items_summed)``; ``total`` is ``0`` when there are no items (as in PARL).
    """
    total: Any = 0
    num_items_summed = 0
    for batch_weights, batch_vecs in zip(itergroups(weights, batch_size), itergroups(vecs, batch_size)):
        total += np.dot(np.asarray(batch_weights, dtype=np.float32), np.asarray(batch_vecs, dtype=np.float32))
        num_items_summed += len(batch_weights)
    return total, num_items_summed


def unflatten(flat_array: np.ndarray, array_shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Split a flat vector into arrays of ``array_shapes`` (views of ``flat_array``).

    Raises:
        ValueError: if the sizes do not add up to ``len(flat_array)``.
    """
    sizes = [int(np.prod(s, dtype=np.int64)) for s in array_shapes]
    if sum(sizes) != len(flat_array):
        raise ValueError(f"unflatten: shapes {list(array_shapes)} hold {sum(sizes)} values, "
                         f"the flat array has {len(flat_array)}")
    arrays, i = [], 0
    for shape, size in zip(array_shapes, sizes, strict=True):
        arrays.append(flat_array[i:i + size].reshape(shape))
        i += size
    return arrays


class Optimizer:
    """A numpy optimizer over a flat parameter vector (PARL's ``examples/ES/optimizers.py``).

    Args:
        parameter_size: number of parameters.
    """

    def __init__(self, parameter_size: int) -> None:
        self.dim = int(parameter_size)
        self.t = 0

    def update(self, theta: np.ndarray, global_g: np.ndarray) -> tuple[np.ndarray, float]:
        """One step along ``-global_g``; returns ``(new theta, |step| / |theta|)``."""
        self.t += 1
        step = self._compute_step(np.asarray(global_g, np.float32))
        ratio = float(np.linalg.norm(step)) / max(float(np.linalg.norm(theta)), 1e-12)
        return (theta + step).astype(np.float32), ratio

    def _compute_step(self, global_g: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum: ``v = m v + (1 - m) g``, ``step = -stepsize v``."""

    def __init__(self, parameter_size: int, stepsize: float, momentum: float = 0.9) -> None:
        super().__init__(parameter_size)
        self.v: np.ndarray = np.zeros(self.dim, dtype=np.float32)
        self.stepsize, self.momentum = stepsize, momentum

    def _compute_step(self, global_g: np.ndarray) -> np.ndarray:
        self.v = self.momentum * self.v + (1.0 - self.momentum) * global_g
        return -self.stepsize * self.v


class Adam(Optimizer):
    """Adam (Kingma and Ba 2014) with bias correction folded into the step size."""

    def __init__(self, parameter_size: int, stepsize: float, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-08) -> None:
        super().__init__(parameter_size)
        self.stepsize, self.beta1, self.beta2, self.epsilon = stepsize, beta1, beta2, epsilon
        self.m: np.ndarray = np.zeros(self.dim, dtype=np.float32)
        self.v: np.ndarray = np.zeros(self.dim, dtype=np.float32)

    def _compute_step(self, global_g: np.ndarray) -> np.ndarray:
        a = self.stepsize * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        self.m = self.beta1 * self.m + (1 - self.beta1) * global_g
        self.v = self.beta2 * self.v + (1 - self.beta2) * (global_g * global_g)
        return -a * self.m / (np.sqrt(self.v) + self.epsilon)
