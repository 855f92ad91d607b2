"""Utilities, as ``parl.utils``: ``logger``, ``summary``, ``ReplayMemory``, ``machine_info`` ...

Every name ``from parl.utils import *`` gives is here, under PARL's module paths too
(``fastparl.utils.machine_info``, ``.rl_utils``, ``.time_stat``, ``.window_stat``, ``.tensorboard`` ...).
This package never imports paddle: ``from fastparl.utils import logger`` is cheap.  Names that live
elsewhere (``ReplayMemory`` in :mod:`fastparl.data`, ``check_model_method`` in :mod:`fastparl.core`),
those on Numba kernels (``calc_gae``) and heavier modules (``summary``, ``plot``) load on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastparl.utils import logger
from fastparl.utils.exceptions import DeserializeError, SerializeError, UtilsError
from fastparl.utils.globvars import GlobalConfig, global_config
from fastparl.utils.machine_info import (
    get_free_tcp_port,
    get_gpu_count,
    get_ip_address,
    get_port_from_range,
    is_gpu_available,
    is_port_available,
    is_xpu_available,
)
from fastparl.utils.np_utils import np_cross_entropy, np_softmax
from fastparl.utils.path_utils import atomic_folder, format_uniform_path
from fastparl.utils.progress import CSVLogger, TrainLogger, progress_bar
from fastparl.utils.scheduler import LinearDecayScheduler, PiecewiseScheduler
from fastparl.utils.seeding import set_seed
from fastparl.utils.utils import (
    _HAS_FLUID,
    _HAS_PADDLE,
    _HAS_TORCH,
    _IS_MAC,
    _IS_WINDOWS,
    MAX_INT32,
    check_version_for_fluid,
    check_version_for_xpu,
    get_fluid_version,
    has_func,
    isnotebook,
    kill_process,
    to_byte,
    to_str,
)

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "summary": ("fastparl.utils.summary", None),
    "tensorboard": ("fastparl.utils.tensorboard", None),
    "plot": ("fastparl.utils.plot", None),
    "plot_curves": ("fastparl.utils.plot", "plot_curves"),
    "ReplayMemory": ("fastparl.data", "ReplayMemory"),
    "PrioritizedReplayMemory": ("fastparl.data", "PrioritizedReplayMemory"),
    "check_model_method": ("fastparl.core.checks", "check_model_method"),
    "calc_gae": ("fastparl.utils.rl_utils", "calc_gae"),
    "calc_discount_sum_rewards": ("fastparl.utils.rl_utils", "calc_discount_sum_rewards"),
}

__all__ = [
    "MAX_INT32",
    "_HAS_FLUID",
    "_HAS_PADDLE",
    "_HAS_TORCH",
    "_IS_MAC",
    "_IS_WINDOWS",
    "CSVLogger",
    "DeserializeError",
    "GlobalConfig",
    "LinearDecayScheduler",
    "PiecewiseScheduler",
    "PrioritizedReplayMemory",
    "ReplayMemory",
    "SerializeError",
    "TrainLogger",
    "UtilsError",
    "atomic_folder",
    "calc_discount_sum_rewards",
    "calc_gae",
    "check_model_method",
    "check_version_for_fluid",
    "check_version_for_xpu",
    "format_uniform_path",
    "get_fluid_version",
    "get_free_tcp_port",
    "get_gpu_count",
    "get_ip_address",
    "get_port_from_range",
    "global_config",
    "has_func",
    "is_gpu_available",
    "is_port_available",
    "is_xpu_available",
    "isnotebook",
    "kill_process",
    "logger",
    "np_cross_entropy",
    "np_softmax",
    "plot_curves",
    "progress_bar",
    "set_seed",
    "summary",
    "tensorboard",
    "to_byte",
    "to_str",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fastparl.utils' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
