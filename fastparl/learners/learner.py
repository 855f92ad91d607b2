"""One rank of a learner group: an ``Agent`` or ``Algorithm`` replica in its own actor process.

:class:`Learner` is a plain class; :class:`fastparl.learners.LearnerGroup` runs it as a remote class
(``n_gpu=1`` on GPUs).  It imports paddle only inside its process, after it has set the variables
paddle's distributed runtime reads, and it builds its replica from a factory shipped with
cloudpickle, so the driver never needs to build one on the learners' devices.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from typing import Any

import cloudpickle

from fastparl.learners.rendezvous import Rendezvous

__all__ = ["Learner"]


class Learner:
    """Holds one replica and runs its methods with gradients all-reduced across the group.

    The life of a learner: :meth:`prepare` (import paddle, in parallel on all ranks), :meth:`setup`
    (join the group, build the replica), then any number of :meth:`call`, :meth:`get_weights` and
    :meth:`set_weights`.  Every rank must run the same calls in the same order, since each optimizer
    step is a collective operation.
    """

    def __init__(self) -> None:
        self.rank = -1
        self.world_size = 0
        self.obj: Any = None
        self.reducers: list[Any] = []

    def pid(self) -> int:
        """This learner's process id (tests check that it ends with the group)."""
        return os.getpid()

    def prepare(self, quiet: bool = True) -> None:
        """Import paddle (seconds: worth doing on every rank at once before the rendezvous).

        Args:
            quiet: hide glog's INFO lines (paddle's rendezvous logs each connection attempt); a value
                of ``GLOG_minloglevel`` already in the environment wins.
        """
        if quiet:
            os.environ.setdefault("GLOG_minloglevel", "1")
        from fastparl.core._paddle import import_paddle

        import_paddle()
        # paddle's fatal-signal handler prints a C++ "Termination signal" report when the group kills
        # its learners; a learner ends on SIGTERM quietly, as any actor does.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def setup(self, rendezvous: Rendezvous, factory: bytes, seed: int) -> None:
        """Join the group (blocks until every rank has joined) and build the replica.

        Args:
            rendezvous: this rank's place in the group (:func:`fastparl.learners.rendezvous.plan`).
            factory: a cloudpickled callable with no arguments returning an ``Agent`` or ``Algorithm``.
            seed: seeds paddle, numpy and ``random`` with ``seed + rank`` before the factory runs.

        Raises:
            TypeError: if the replica holds no paddle optimizer (nothing to all-reduce).
        """
        os.environ.update(rendezvous.environ())
        self.prepare()
        from fastparl.core._paddle import import_paddle
        from fastparl.learners.allreduce import GradientAllReduce, find_optimizers
        from fastparl.utils.seeding import set_seed

        paddle = import_paddle()
        paddle.set_device(rendezvous.device)
        self.rank, self.world_size = rendezvous.rank, rendezvous.world_size
        if self.world_size > 1:
            banner = io.StringIO()  # paddle prints its modified FLAGS to stderr; keep it unless init fails
            try:
                with contextlib.redirect_stderr(banner):
                    paddle.distributed.init_parallel_env()
            except BaseException:
                print(banner.getvalue(), end="", file=sys.stderr)
                raise
        set_seed(seed + self.rank, paddle=True)
        self.obj = cloudpickle.loads(factory)()
        optimizers = find_optimizers(self.obj)
        if not optimizers:
            raise TypeError(f"the learner factory built a {type(self.obj).__name__} that holds no paddle optimizer "
                            f"(looked at its attributes and at its .alg's): return an Agent or Algorithm whose "
                            f"optimizer is an attribute, e.g. self.optimizer = paddle.optimizer.Adam(...)")
        self.reducers = [GradientAllReduce(opt, self.world_size) for opt in optimizers]

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], weight: float) -> tuple[Any, int]:
        """Run ``replica.method(*args, **kwargs)`` with this rank's gradient weight.

        Args:
            method: name of a method of the replica (e.g. ``"learn"``).
            args: positional arguments (this rank's shard of the batch).
            kwargs: keyword arguments (the same on every rank).
            weight: ``w_i`` of every gradient of this rank in the all-reduced sum.

        Returns:
            ``(result, steps)``: the method's result and the optimizer steps it made.
        """
        for r in self.reducers:
            r.weight = weight
        before = sum(r.steps for r in self.reducers)
        result = getattr(self.obj, method)(*args, **kwargs)
        return result, sum(r.steps for r in self.reducers) - before

    def get_weights(self) -> dict[str, Any]:
        """The replica's weights (``get_weights()`` of the Agent or Algorithm), numpy arrays."""
        return dict(self.obj.get_weights())

    def set_weights(self, weights: dict[str, Any]) -> None:
        """Copy ``weights`` into the replica (the optimizer state is kept)."""
        self.obj.set_weights(weights)
