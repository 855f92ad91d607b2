"""IMPALA, as PARL's ``parl.algorithms.impala`` package: the learner and the ``vtrace`` module.

``from fastparl.algorithms.impala import vtrace`` (``vtrace.from_importance_weights``) works as in PARL.
"""

from __future__ import annotations

from fastparl.algorithms.impala import vtrace
from fastparl.algorithms.impala.impala import IMPALA, VTraceLoss, VTraceReturns

__all__ = ["IMPALA", "VTraceLoss", "VTraceReturns", "vtrace"]
