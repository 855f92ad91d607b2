"""The paddle backend of fastparl's RL core: ``Model``, ``Algorithm``, ``Agent``.

Importing this package imports paddle (through :func:`fastparl.core._paddle.import_paddle`,
which sets ``MKL_DEBUG_CPU_TYPE=5`` first).  ``import fastparl`` does not import it until
``fastparl.Model`` (or ``Algorithm``/``Agent``/``algorithms``) is first used.
"""

from __future__ import annotations

from fastparl.core._paddle import import_paddle, seed_paddle
from fastparl.core.agent import Agent
from fastparl.core.algorithm import Algorithm
from fastparl.core.checks import ModelMethodError, check_model_method
from fastparl.core.model import Model
from fastparl.utils.numpy_mlp import NumpyMLP  # paddle-free, also used by actors without paddle
from fastparl.core import paddle  # PARL's ``parl.core.paddle`` module path (imported after Model)

__all__ = [
    "Agent",
    "Algorithm",
    "Model",
    "ModelMethodError",
    "NumpyMLP",
    "check_model_method",
    "import_paddle",
    "paddle",
    "seed_paddle",
]
