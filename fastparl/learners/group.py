"""``LearnerGroup``: k learner actors training one model data-parallel, driven from the driver.

The driver keeps the data: rollouts are post-processed where they were collected (GAE, V-trace in
:mod:`fastparl.kernels`), then :meth:`LearnerGroup.run` splits the ready batch into k shards and
sends shard i to learner i.  Arrays allocated with :func:`fastparl.shared_array` travel as handles
(each learner reads its slice of the driver's memory in place); other arrays go through the runtime's
shared-memory arena (one copy of each shard).  Each learner runs the same method on its shard; every
optimizer step all-reduces the gradients (:mod:`fastparl.learners.allreduce`), so all replicas apply
the same update and keep the same weights.  Actors are made with the public API only
(``fastparl.remote_class(wait=False, n_gpu=...)``, ``fastparl.put``, ``fastparl.wait``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cloudpickle
import numpy as np

import fastparl.remote as fastparl
from fastparl import errors
from fastparl.learners.learner import Learner
from fastparl.learners.rendezvous import Rendezvous, plan, wait_listening

__all__ = ["LearnerGroup", "split_batch"]

_REDUCTIONS = ("mean", "sum")


def _leaves(batch: Any) -> list[np.ndarray]:
    if isinstance(batch, Mapping):
        return [x for v in batch.values() for x in _leaves(v)]
    if isinstance(batch, (list, tuple)):
        return [x for v in batch for x in _leaves(v)]
    return [batch]


def _take(batch: Any, axis: int, start: int, stop: int) -> Any:
    if isinstance(batch, Mapping):
        return {k: _take(v, axis, start, stop) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_take(v, axis, start, stop) for v in batch)
    index = (slice(None),) * axis + (slice(start, stop),)
    return batch[index]  # a view: a slice of a shared array stays shared


def split_batch(batch: Any, k: int, axis: int = 0, unit: int = 1) -> tuple[list[Any], list[int]]:
    """Split every array of ``batch`` into ``k`` consecutive shards along ``axis``, in whole units.

    Args:
        batch: an array, or a dict / list / tuple (nested) of arrays of equal length along ``axis``.
        k: number of shards.
        axis: the sample axis (e.g. 1 for time-major ``(T, N, ...)`` rollouts split by env).
        unit: rows that must stay together (e.g. IMPALA's env segments of ``T`` steps).

    Returns:
        ``(shards, sizes)``: k views of ``batch`` and their lengths along ``axis``; lengths differ
        by at most one unit (``np.array_split``'s rule).

    Raises:
        ValueError: if lengths differ, are not a whole number of units, or there are fewer units than k.
    """
    leaves = _leaves(batch)
    if not leaves:
        raise ValueError("split_batch: the batch holds no arrays")
    lengths = {int(np.shape(x)[axis]) for x in leaves}
    if len(lengths) != 1:
        raise ValueError(f"split_batch: every array needs the same length along axis {axis}, got {sorted(lengths)}")
    (length,) = lengths
    if length % unit:
        raise ValueError(f"split_batch: length {length} along axis {axis} is not a whole number of units of {unit}")
    units = length // unit
    if units < k:
        raise ValueError(f"split_batch: {units} units of {unit} rows cannot feed {k} learners; send a batch of at "
                         f"least {k * unit} rows or use fewer learners")
    bounds = np.cumsum([0] + [len(a) * unit for a in np.array_split(np.arange(units), k)])
    shards = [_take(batch, axis, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return shards, [int(b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class LearnerGroup:
    """k learners, each one replica of an ``Agent``/``Algorithm`` in its own actor, trained data-parallel.

    Example:
        >>> def build():                                      # runs in each learner process
        ...     return parl.algorithms.PPO(MyModel(), initial_lr=3e-4)
        >>> group = LearnerGroup(build, num_learners=2)
        >>> group.set_weights(local_alg.get_weights())        # every replica starts from the same weights
        >>> losses = group.run("learn", obs, act, value, ret, logp, adv)   # each rank learns on its shard
        >>> local_alg.set_weights(group.get_weights())        # to act with the new policy

    Args:
        factory: a callable with no arguments returning the replica (an ``Agent`` or ``Algorithm`` whose
            optimizers are attributes).  It is shipped with cloudpickle and called once in each learner.
        num_learners: k, the world size.
        reduce: ``"mean"`` if the replica's losses average over samples (PPO, A2C, DQN...): rank i's
            gradient is weighted by its share of the batch ``n_i / N``, so a step equals a step on the
            whole batch for equal *and* unequal shards; ``"sum"`` if they sum over samples (IMPALA's
            V-trace loss): weights 1.
        use_gpu: one GPU per learner (``n_gpu=1``, NCCL) if True, CPU (gloo) if False, None: GPUs when
            the driver sees any.
        seed: learner i seeds paddle, numpy and ``random`` with ``seed + i`` before calling ``factory``.
        max_memory: MB each learner may use (``remote_class(max_memory=...)``), None for no limit.
        setup_timeout: seconds the rendezvous and the factories may take.

    Raises:
        ValueError: on a bad ``num_learners``/``reduce``, or too few GPUs.
        fastparl.errors.FastparlError: if a learner fails to start (the group is closed first).
    """

    def __init__(self, factory: Callable[[], Any], num_learners: int = 2, *, reduce: str = "mean",
                 use_gpu: bool | None = None, seed: int = 0, max_memory: float | None = None,
                 setup_timeout: float = 300.0) -> None:
        if reduce not in _REDUCTIONS:
            raise ValueError(f"LearnerGroup(reduce={reduce!r}): use 'mean' for losses averaged over samples or 'sum' "
                             f"for losses summed over samples")
        if not callable(factory):
            raise TypeError(f"LearnerGroup needs a factory callable returning an Agent or Algorithm, got {factory!r}")
        self.reduce = reduce
        self.rendezvous: list[Rendezvous] = plan(num_learners, use_gpu)
        blob = cloudpickle.dumps(factory)
        self.learners: list[Any] = []
        try:
            for r in self.rendezvous:
                cls = fastparl.remote_class(wait=False, n_gpu=r.n_gpu, max_memory=max_memory)(Learner)
                self.learners.append(cls())
            self._gather([learner.prepare() for learner in self.learners], setup_timeout)
            first = self.learners[0].setup(self.rendezvous[0], blob, seed)
            if num_learners > 1:  # start the others once rank 0's store listens: spares paddle's 3 s retry
                wait_listening(self.rendezvous[0].master_port, setup_timeout, failed=first.done)
            rest = [lrn.setup(r, blob, seed) for lrn, r in zip(self.learners[1:], self.rendezvous[1:], strict=True)]
            self._gather([first, *rest], setup_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def num_learners(self) -> int:
        """k, the number of learners."""
        return len(self.rendezvous)

    def _gather(self, futures: list[Any], timeout: float | None = None) -> list[Any]:
        """Results of one future per learner; if any fails, close the group (its peers would wait in a
        collective forever) and raise that error."""
        pending = list(futures)
        try:
            while pending:
                done, pending = fastparl.wait(pending, num_returns=1, timeout=timeout)
                if not done:
                    raise errors.FutureTimeoutError(
                        f"learner group: {len(pending)} of {len(futures)} learners did not answer within {timeout} s")
                for f in done:
                    f.result()  # raises the learner's error
        except BaseException:
            self.close()
            raise
        return [f.result() for f in futures]

    def call(self, method: str, shards: Sequence[tuple[Any, ...]], weights: Sequence[float],
             kwargs: Mapping[str, Any] | None = None) -> list[Any]:
        """Run ``replica.method(*shards[i], **kwargs)`` on learner i, all at once; the low-level :meth:`run`.

        Args:
            method: a method of the replica.
            shards: one tuple of positional arguments per learner.
            weights: each learner's gradient weight ``w_i`` in the all-reduced sum ``sum_i w_i g_i``.
            kwargs: keyword arguments for every learner.

        Returns:
            Each learner's result, rank 0 first.

        Raises:
            fastparl.errors.FastparlError: if the group is closed.
            ValueError: if ``shards`` or ``weights`` do not have one entry per learner.
            RuntimeError: if the learners made different numbers of optimizer steps.
        """
        k = self.num_learners
        if not self.learners:
            raise errors.FastparlError(f"this learner group is closed (after close() or a learner's failure); "
                                                f"start a new LearnerGroup to call {method}()")
        if len(shards) != k or len(weights) != k:
            raise ValueError(f"LearnerGroup.call: need one shard and one weight per learner ({k}), got "
                             f"{len(shards)} and {len(weights)}")
        kw = dict(kwargs or {})
        futures = [lrn.call(method, tuple(s), kw, float(w))
                   for lrn, s, w in zip(self.learners, shards, weights, strict=True)]
        results = self._gather(futures)
        steps = [s for _, s in results]
        if len(set(steps)) > 1:
            self.close()
            raise RuntimeError(f"learners made different numbers of optimizer steps {steps} in {method}(): every rank "
                               f"must step as often (give them shards of equal size); the group is closed")
        return [r for r, _ in results]

    def run(self, method: str, *batch: Any, axis: int = 0, unit: int = 1, **kwargs: Any) -> list[Any]:
        """Split ``batch`` into k shards and run ``replica.method(*shard_i, **kwargs)`` on learner i.

        Every positional argument after ``method`` is split (arrays, or dicts/lists/tuples of arrays);
        keyword arguments go unchanged to every learner (e.g. a learning rate).  Gradient weights follow
        the shard sizes (see ``reduce``).  When ``method`` makes several optimizer steps (PPO's epochs of
        minibatches), give it a batch that splits evenly, so that every rank steps as often.

        Args:
            method: a method of the replica, e.g. ``"learn"``.
            batch: the arrays to split.
            axis: the sample axis of every array.
            unit: rows that stay on one learner (IMPALA: ``sample_batch_steps``).
            kwargs: passed to every learner's ``method``.

        Returns:
            Each learner's result, rank 0 first.
        """
        shards, sizes = split_batch(tuple(batch), self.num_learners, axis=axis, unit=unit)
        total = sum(sizes)
        weights = [n / total for n in sizes] if self.reduce == "mean" else [1.0] * len(sizes)
        return self.call(method, shards, weights, kwargs)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Copy ``weights`` into every replica: written once with :func:`fastparl.put`, read in place by all."""
        ref = fastparl.put(dict(weights))
        self._gather([lrn.set_weights(ref) for lrn in self.learners])

    def get_weights(self, rank: int = 0) -> dict[str, Any]:
        """The weights of learner ``rank`` (all ranks hold the same after every synchronous step)."""
        return dict(self._gather([self.learners[rank].get_weights()])[0])

    def weights_max_diff(self) -> float:
        """The largest absolute difference between any learner's weights and rank 0's (0.0 when in sync)."""
        all_weights = self._gather([lrn.get_weights() for lrn in self.learners])
        ref = all_weights[0]
        return max((float(np.max(np.abs(np.asarray(w[name]) - np.asarray(ref[name])), initial=0.0))
                    for w in all_weights[1:] for name in ref), default=0.0)

    def pids(self) -> list[int]:
        """The learners' process ids, rank 0 first."""
        return [int(p) for p in self._gather([lrn.pid() for lrn in self.learners])]

    def close(self) -> None:
        """Stop every learner (idempotent).  Learners also end with the driver, like all actors."""
        learners, self.learners = self.learners, []
        for lrn in learners:
            try:
                fastparl.kill(lrn)
            except Exception:  # noqa: BLE001 - already dead: nothing left to stop
                pass

    def __enter__(self) -> LearnerGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
