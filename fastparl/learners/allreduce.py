"""Gradient all-reduce installed on an algorithm's optimizers, inside each learner process.

An ``Algorithm.learn`` does ``loss.backward(); optimizer.step(); optimizer.clear_grad()``.  A learner
wraps ``step`` of every optimizer it finds on the algorithm so that, just before the update, each
gradient becomes the weighted sum over ranks ``sum_i w_i g_i`` (one ``paddle.distributed.all_reduce``
of one flat buffer per step).  The update (gradient clipping included) then runs on the same
gradient on every rank, from the same weights and optimizer state, so the replicas stay identical
without ever exchanging weights.  The algorithm's code is unchanged.

The weights ``w_i`` make a step on k shards equal a step on their concatenation:

* a loss that is a *mean* over samples: ``w_i = n_i / N`` (shard size over batch size), which is
  ``1 / k`` for equal shards; a plain average of the shard gradients would weigh the samples of a
  smaller shard more;
* a loss that is a *sum* over samples (IMPALA's V-trace loss): ``w_i = 1``, exact for any shard sizes.

Terms that do not decompose over samples (PPO's per-minibatch advantage normalisation, batch
statistics) are computed per shard, as in every data-parallel trainer.

Why not ``paddle.DataParallel``: it reduces inside ``backward`` only for calls of the wrapped layer's
``forward``, while algorithms call ``model.policy``/``model.value``; wrapping the optimizer step
catches every gradient whatever methods computed it.  Why not paddle's ``fused_allreduce_gradients``:
it skips parameters without a gradient, so ranks whose graphs differ would reduce buffers of
different layouts; here every trainable parameter has a fixed slot and a "has a gradient" flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastparl.core._paddle import import_paddle

__all__ = ["GradientAllReduce", "find_optimizers"]


def find_optimizers(obj: Any) -> list[Any]:
    """The paddle optimizers held as attributes of ``obj`` or of its ``alg`` (an Agent's algorithm).

    Args:
        obj: an :class:`fastparl.Agent` or :class:`fastparl.Algorithm` (or any object holding optimizers).

    Returns:
        The optimizers, each once, in attribute order.
    """
    paddle = import_paddle()
    found: dict[int, Any] = {}
    for holder in (obj, getattr(obj, "alg", None)):
        if holder is None:
            continue
        for value in getattr(holder, "__dict__", {}).values():
            if isinstance(value, paddle.optimizer.Optimizer):
                found.setdefault(id(value), value)
    return list(found.values())


def _parameters(optimizer: Any) -> list[Any]:
    plist = getattr(optimizer, "_parameter_list", None)
    if not plist:
        raise TypeError(f"{type(optimizer).__name__} was built without a parameter list; a learner group needs "
                        f"optimizer(parameters=model.parameters()) to know which gradients to all-reduce")
    params: list[Any] = []
    for item in plist:
        params.extend(item["params"] if isinstance(item, dict) else [item])
    return [p for p in params if not p.stop_gradient]


class GradientAllReduce:
    """Wraps ``optimizer.step`` so that it all-reduces the gradients first (see the module docstring).

    Args:
        optimizer: a ``paddle.optimizer.Optimizer`` whose ``step`` the algorithm calls.
        world_size: ranks in the group; with 1, ``step`` only counts.

    Attributes:
        weight: this rank's ``w_i``, set by the learner before each call.
        steps: number of ``step`` calls so far (the group checks that every rank made as many).
    """

    def __init__(self, optimizer: Any, world_size: int) -> None:
        self.paddle = import_paddle()
        self.optimizer = optimizer
        self.world_size = world_size
        self.params = _parameters(optimizer)
        self.weight = 1.0
        self.steps = 0
        self._sizes = np.cumsum([0] + [int(p.size) for p in self.params]).tolist()  # slots in the flat buffer
        self._views: dict[int, np.ndarray] = {}
        self._buf: Any = None
        self._step = optimizer.step
        optimizer.step = self.step
        optimizer.minimize = self._no_minimize

    def step(self) -> None:
        """All-reduce the gradients (weighted), then run the optimizer's own ``step``."""
        if self.world_size > 1:
            self.reduce()
        self.steps += 1
        self._step()

    def reduce(self) -> None:
        """Replace each gradient by ``sum_i w_i g_i`` over the ranks, in place (one collective call).

        On CPU, float32 gradients are packed into and unpacked from one preallocated buffer through
        zero-copy NumPy views (a few us a parameter; paddle's concat/split/assign cost ~1.5 ms a step
        for PPO's 12 tensors on the 2-core VM); elsewhere (GPUs, other dtypes) paddle ops do it.

        Raises:
            RuntimeError: if a parameter has a gradient on some ranks and none on others (their
                graphs differ, so the update would differ).
        """
        if not self.params:
            return
        grads = [p.grad for p in self.params]
        views = self._numpy_views(grads)
        if views is not None:
            self._reduce_numpy(views)
        else:
            self._reduce_paddle(grads)

    def _check(self, counts: Any) -> None:
        partial = [p.name for p, c in zip(self.params, counts, strict=True) if 0 < round(float(c)) < self.world_size]
        if partial:
            raise RuntimeError(f"parameters {partial} have a gradient on some learners and none on others: every "
                               f"rank's loss must reach the same parameters for their updates to stay equal")

    def _numpy_views(self, grads: list[Any]) -> list[np.ndarray | None] | None:
        """Writable NumPy views of the gradients (None where a gradient is None), or None if one is not a
        contiguous CPU float32 tensor.  Cached by address: ``clear_grad`` zeroes gradients in place."""
        views: list[np.ndarray | None] = []
        for i, g in enumerate(grads):
            if g is None:
                views.append(None)
                continue
            ptr = g.data_ptr()
            cached = self._views.get(i)
            if cached is None or cached.ctypes.data != ptr:
                if not g.place.is_cpu_place() or g.dtype != self.paddle.float32:
                    return None
                cached = np.from_dlpack(g.detach())
                if cached.ctypes.data != ptr or not cached.flags.c_contiguous or not cached.flags.writeable:
                    return None
                self._views[i] = cached
            views.append(cached)
        return views

    def _reduce_numpy(self, views: list[np.ndarray | None]) -> None:
        paddle, n = self.paddle, len(self.params)
        if self._buf is None:
            self._buf = paddle.zeros([self._sizes[-1] + n], "float32")
        buf = np.from_dlpack(self._buf)
        for i, v in enumerate(views):
            a, b = self._sizes[i], self._sizes[i + 1]
            if v is None:
                buf[a:b] = 0.0
            else:
                np.multiply(v.reshape(-1), self.weight, out=buf[a:b])
            buf[-n + i] = v is not None
        paddle.distributed.all_reduce(self._buf)
        buf = np.from_dlpack(self._buf)  # the same memory, unless the collective replaced it
        self._check(buf[-n:])
        for i, v in enumerate(views):
            if v is not None:
                v.reshape(-1)[:] = buf[self._sizes[i]:self._sizes[i + 1]]

    def _reduce_paddle(self, grads: list[Any]) -> None:
        paddle, n = self.paddle, len(self.params)
        pieces, flags = [], []
        for p, g in zip(self.params, grads, strict=True):
            if g is None:
                pieces.append(paddle.zeros([int(p.size)], "float32"))
            else:
                flat = g.reshape([-1]).astype("float32")
                pieces.append(flat * self.weight if self.weight != 1.0 else flat)
            flags.append(float(g is not None))
        pieces.append(paddle.to_tensor(flags, dtype="float32"))
        buf = paddle.concat(pieces)
        paddle.distributed.all_reduce(buf)
        counts = buf[-n:].numpy()
        self._check(counts)
        parts = paddle.split(buf[:-n], [int(p.size) for p in self.params])
        for g, part, c in zip(grads, parts, counts, strict=True):
            if c > 0:
                paddle.assign(part.reshape(g.shape).astype(g.dtype), output=g)

    def _no_minimize(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"a learner group all-reduces gradients in {type(self.optimizer).__name__}.step(); "
                                  f"write loss.backward(); optimizer.step(); optimizer.clear_grad() instead of "
                                  f"optimizer.minimize(loss)")
