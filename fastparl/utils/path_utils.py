"""PARL's ``parl.utils.path_utils``."""

from __future__ import annotations

import os

__all__ = ["format_uniform_path"]


def format_uniform_path(path: str) -> str:
    """``path`` with every ``//``, ``/`` and ``\\`` replaced by this system's separator (``os.sep``)."""
    return path.replace("//", os.sep).replace("/", os.sep).replace("\\", os.sep)
