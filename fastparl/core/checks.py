"""Argument checks shared by the algorithms (PARL's ``check_model_method`` and friends).

Unlike PARL, which uses ``assert``, these raise real exceptions whose message says how to
fix the problem.  :class:`ModelMethodError` derives from both :class:`TypeError` and
:class:`AssertionError`, so PARL code that catches ``AssertionError`` keeps working.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["ModelMethodError", "check_model_method", "check_number", "check_range"]


class ModelMethodError(TypeError, AssertionError):
    """A model given to an algorithm lacks a method the algorithm calls."""


def check_model_method(model: Any, method: str, algo: str) -> None:
    """Check that ``model`` implements ``method``, as ``algo`` needs it.

    For ``method == "forward"`` the method must be overridden by the model's class (the
    inherited ``paddle.nn.Layer.forward`` only raises ``NotImplementedError``).

    Args:
        model: the model handed to the algorithm (usually a :class:`fastparl.Model`).
        method: name of the method the algorithm calls, e.g. ``"forward"`` or ``"value"``.
        algo: the algorithm's name, used in the error message.

    Raises:
        ModelMethodError: if the method is missing, not callable, or (for ``forward``) not
            overridden.
    """
    func = getattr(model, method, None)
    if not callable(func):
        raise ModelMethodError(
            f"{algo}'s model needs to implement the {method!r} method, but "
            f"{type(model).__name__} has none. Define `def {method}(self, ...)` in your "
            f"parl.Model subclass."
        )
    if method == "forward" and _is_base_forward(getattr(func, "__func__", None)):
        raise ModelMethodError(
            f"{algo}'s model needs to implement the 'forward' method: "
            f"{type(model).__name__} inherits paddle.nn.Layer.forward unchanged. Define "
            f"`def forward(self, obs): ...` in your parl.Model subclass."
        )


def _is_base_forward(func: Any) -> bool:
    """True if ``func`` is a base-class ``forward`` that only raises (paddle's or ours)."""
    qualname = getattr(func, "__qualname__", "")
    return qualname in {"Layer.forward", "Model.forward"}


def check_number(value: Any, name: str, algo: str, example: str) -> float:
    """Check that ``value`` is a real number (not ``None``/bool) and return it as ``float``.

    Args:
        value: the value to check.
        name: the argument's name, for the message.
        algo: the algorithm's name, for the message.
        example: an example call shown in the message, e.g. ``"DQN(model, gamma=0.99, lr=1e-3)"``.

    Returns:
        ``float(value)``.

    Raises:
        TypeError: if ``value`` is not a real number.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{algo} needs {name} to be a float, got {value!r}; e.g. {example}")
    return float(value)


def check_range(value: float, name: str, low: float, high: float, algo: str) -> None:
    """Check ``low <= value <= high``.

    Raises:
        ValueError: if ``value`` is outside ``[low, high]``.
    """
    if not low <= value <= high:
        raise ValueError(f"{algo}: {name} must be in [{low}, {high}], got {value}")
