"""Environments, as ``parl.env``, plus fastparl's batched gymnasium envs.

PARL's names, on gymnasium: :class:`CompatWrapper` and :func:`is_gym_version_ge` (gym < 0.26's
``reset``/``step`` API on a gymnasium env), :class:`ActionMappingWrapper`, PARL's list-of-envs
:class:`VectorEnv`, and the submodules ``mujoco_wrappers`` (``wrap_rms``), ``atari_wrappers``
(``wrap_deepmind``, on ale-py) and ``multiagent_env`` (``MAenv``, on mpe2), which load on first use.

fastparl's own: :func:`make_vector_env`, :class:`LocalVectorEnv` and :class:`RemoteVectorEnv` (many
gymnasium envs per call, buffers in shared memory, optionally in actor processes; each a
``gymnasium.vector.VectorEnv``), :func:`register_vector_env` (for ``gymnasium.make_vec``),
:class:`GymAdapter`; the submodule ``sb3`` (Stable-Baselines3's ``VecEnv`` API on them:
``FastparlVecEnv``, ``make_sb3_vec_env``; needs the ``[sb3]`` extra), loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastparl.env.compat_wrappers import (
    V_GYM_CHANGED,
    V_NPRANDOM_CHANGED,
    CompatWrapper,
    OldApiWrapper,
    is_gym_version_ge,
)
from fastparl.env.continuous_wrappers import ActionMappingWrapper
from fastparl.env.registration import register_vector_env
from fastparl.env.spaces import GymAdapter, action_dtype, check_spaces
from fastparl.env.vector import LocalVectorEnv, RemoteVectorEnv, make_vector_env
from fastparl.env.vector_env import VectorEnv

_LAZY_MODULES = {"atari_wrappers", "mujoco_wrappers", "multiagent_env", "sb3"}

__all__ = [
    "V_GYM_CHANGED",
    "V_NPRANDOM_CHANGED",
    "ActionMappingWrapper",
    "CompatWrapper",
    "GymAdapter",
    "LocalVectorEnv",
    "OldApiWrapper",
    "RemoteVectorEnv",
    "VectorEnv",
    "action_dtype",
    "check_spaces",
    "is_gym_version_ge",
    "make_vector_env",
    "register_vector_env",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY_MODULES:
        raise AttributeError(f"module 'fastparl.env' has no attribute {name!r}")
    module = importlib.import_module(f"fastparl.env.{name}")
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_MODULES)
