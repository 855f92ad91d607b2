"""Input checking shared by the kernel wrappers (numpy only, no numba).

Every wrapper turns user input into C-contiguous 2-D ``(T, N)`` arrays of one float dtype
(float32 unless a float64 array is given) plus bool flag arrays, so that each numba kernel
compiles for at most two signatures.  Errors name the argument, the value and the fix.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "NO_FLAGS", "as_flags", "as_float", "check_discount", "float_dtype", "leading_shape", "optional_truncation",
    "per_env", "restore_shape",
]

# One 2-D bool array standing in for an absent ``truncated`` (same numba type, so no recompile).
NO_FLAGS: np.ndarray = np.zeros((1, 1), dtype=np.bool_)
_REAL_KINDS = frozenset("biuf")  # bool, signed and unsigned integers, floats


def _asarray(name: str, x: Any) -> np.ndarray:
    if x is None:
        raise TypeError(f"{name} is None; pass a NumPy array (time-major, shape (T,) or (T, N))")
    arr = x if type(x) is np.ndarray else np.asarray(x)
    kind = arr.dtype.kind  # a character test: np.issubdtype costs ~1 us, which small rollouts notice
    if kind not in _REAL_KINDS:
        if kind == "c":
            raise TypeError(f"{name} has complex dtype {arr.dtype}; pass float32 or float64")
        raise TypeError(f"{name} has dtype {arr.dtype}; pass a real numeric or bool array")
    return arr


def leading_shape(name: str, x: Any) -> tuple[tuple[int, ...], np.ndarray]:
    """Check the array that fixes the shape (usually ``rewards``) and return ``(shape, array)``.

    Raises:
        ValueError: if the array is not 1-D ``(T,)`` or 2-D ``(T, N)``.
    """
    arr = _asarray(name, x)
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be time-major with shape (T,) or (T, N), got shape {arr.shape}; "
            "reshape e.g. with x.reshape(T, -1) or move the time axis first")
    return arr.shape, arr


def float_dtype(*arrays: Any) -> np.dtype:
    """float64 if any given array is float64, else float32 (the default)."""
    for a in arrays:
        if a is not None and isinstance(a, np.ndarray) and a.dtype == np.float64:
            return np.dtype(np.float64)
    return np.dtype(np.float32)


def as_float(name: str, x: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Return ``x`` as a C-contiguous 2-D ``(T, N)`` array of ``dtype`` after checking its shape."""
    arr = _asarray(name, x)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape} but rewards has shape {shape}; they must match")
    out = np.ascontiguousarray(arr, dtype=dtype)
    return out.reshape(shape[0], -1) if len(shape) == 2 else out.reshape(shape[0], 1)


def as_flags(name: str, x: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Return episode-end flags as a C-contiguous 2-D bool array (nonzero means True)."""
    arr = _asarray(name, x)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape} but rewards has shape {shape}; they must match")
    out = np.ascontiguousarray(arr) if arr.dtype == np.bool_ else np.ascontiguousarray(arr != 0)
    return out.reshape(shape[0], -1) if len(shape) == 2 else out.reshape(shape[0], 1)


def per_env(name: str, x: Any, shape: tuple[int, ...], dtype: np.dtype, default: float | None = None) -> np.ndarray:
    """Return a per-env ``(N,)`` array: a scalar broadcasts, 1-D input also accepts shape ``()`` or ``(1,)``."""
    n = shape[1] if len(shape) == 2 else 1
    if x is None:
        if default is None:
            raise TypeError(f"{name} is None; pass an array of shape ({n},) with one value per env")
        return np.full(n, default, dtype=dtype)
    arr = _asarray(name, x)
    if arr.ndim == 0 or arr.shape == (1,):
        return np.full(n, arr.reshape(()), dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) (one value per env, for rewards of shape {shape}), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_discount(name: str, value: Any) -> float:
    """Check that a discount-like scalar is a real number in [0, 1]."""
    if type(value) is float:  # the common case, without the ABC check below
        v = value
    elif isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {value!r} of type {type(value).__name__}")
    else:
        v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {v}")
    return v


def optional_truncation(shape: tuple[int, ...], dtype: np.dtype, truncated: Any,
                        bootstrap_values: Any) -> tuple[bool, np.ndarray, np.ndarray]:
    """Return ``(has_truncation, truncated_2d, bootstrap_2d)``; dummies of the right numba type when absent."""
    if truncated is None:
        return False, NO_FLAGS, np.zeros((1, 1), dtype=dtype)
    trunc = as_flags("truncated", truncated, shape)
    if bootstrap_values is None:
        if trunc.any():
            raise ValueError(
                "truncated has True entries but bootstrap_values is None; pass bootstrap_values (T, N) holding "
                "V(true next observation) at truncated steps, or mark those steps terminated to cut the return")
        return False, NO_FLAGS, np.zeros((1, 1), dtype=dtype)
    return True, trunc, as_float("bootstrap_values", bootstrap_values, shape, dtype)


def restore_shape(out: np.ndarray, shape: tuple[int, ...]) -> npt.NDArray[Any]:
    """Give a kernel's 2-D result the caller's original shape (1-D input gives 1-D output)."""
    return out.reshape(shape)
