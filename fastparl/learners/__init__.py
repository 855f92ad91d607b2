"""Data-parallel learners: one model trained by k learner actors that all-reduce their gradients.

``LearnerGroup(factory, num_learners=k)`` starts k actors (``n_gpu=1`` each where GPUs exist), each
holding one replica of an ``Agent`` or ``Algorithm``; :meth:`LearnerGroup.run` splits a ready batch
into k shards, every learner runs the same method on its shard, and every optimizer step all-reduces
the gradients with ``paddle.distributed`` (NCCL on GPUs, gloo on CPU), so the replicas stay identical
and a step equals a single learner's step on the whole batch.  Rollout post-processing (GAE,
V-trace) stays in :mod:`fastparl.kernels`, where the data is.  This package imports paddle only
inside the learner processes.
"""

from fastparl.learners.group import LearnerGroup, split_batch
from fastparl.learners.rendezvous import Rendezvous, plan

__all__ = ["LearnerGroup", "Rendezvous", "plan", "split_batch"]
