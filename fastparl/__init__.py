"""fastparl: PARL-compatible reinforcement learning with a fast, zero-copy parallel runtime.

``import fastparl`` is cheap and never imports paddle: the parallel interface
(:mod:`fastparl.remote`) needs only numpy, cloudpickle and psutil.  The RL layers
(``Model``, ``Algorithm``, ``Agent``, ``fastparl.algorithms``) import paddle the
first time they are touched, so ``import fastparl as parl`` runs PARL-style code.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

# paddle's bundled MKL takes a slow code path on AMD CPUs unless told otherwise; this must be
# set before paddle is first imported and has no effect on Intel.  Respect a user's choice.
os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
# paddle warns at import that the C++ build tool ccache is missing: noise for every RL script (and every
# actor) that imports paddle itself, as PARL's examples do.  Only that message is silenced.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

from fastparl import errors  # noqa: E402
from fastparl.remote import (  # noqa: E402
    ActorPool,
    Future,
    ObjectRef,
    SharedArray,
    connect,
    current_backend,
    disconnect,
    get,
    kill,
    put,
    remote_class,
    shared_array,
    wait,
)

__version__ = "0.1.0"

# Attributes resolved on first use, so that importing fastparl stays light (no paddle, no gymnasium).
_LAZY_ATTRS = {
    "Model": ("fastparl.core", "Model"),
    "Algorithm": ("fastparl.core", "Algorithm"),
    "Agent": ("fastparl.core", "Agent"),
}
_LAZY_MODULES = {"algorithms", "core", "kernels", "data", "env", "utils", "cli"}

__all__ = [
    "ActorPool",
    "Agent",
    "Algorithm",
    "Future",
    "Model",
    "ObjectRef",
    "SharedArray",
    "connect",
    "current_backend",
    "disconnect",
    "errors",
    "get",
    "kill",
    "put",
    "remote_class",
    "shared_array",
    "wait",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        module, attr = _LAZY_ATTRS[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"fastparl.{name}")
    else:
        raise AttributeError(f"module 'fastparl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_ATTRS) | _LAZY_MODULES)
