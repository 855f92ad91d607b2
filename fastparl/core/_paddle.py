"""The single place where fastparl imports paddle.

paddle's bundled MKL picks a slow code path on AMD CPUs unless ``MKL_DEBUG_CPU_TYPE=5`` is
set *before* paddle is first imported (it has no effect on Intel CPUs).  Every module of
fastparl that needs paddle does ``paddle = import_paddle()`` at module level, so the variable
is always set first, and a user's own value is respected.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType

__all__ = ["import_paddle", "seed_paddle"]


def import_paddle() -> ModuleType:
    """Import and return the ``paddle`` module, setting ``MKL_DEBUG_CPU_TYPE=5`` first.

    Returns:
        The imported ``paddle`` module.

    Raises:
        ImportError: if paddlepaddle is not installed; the message says how to install it.
    """
    os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    try:
        with warnings.catch_warnings():  # paddle warns about a missing ccache (a C++ build tool) at import
            warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
            return importlib.import_module("paddle")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fastparl.Model/Algorithm/Agent and fastparl.algorithms need PaddlePaddle: "
            "pip install 'fastparl[paddle]' (or pip install paddlepaddle)"
        ) from exc


def seed_paddle(seed: int) -> None:
    """Seed paddle's global generator (``paddle.seed``), importing paddle if needed.

    Args:
        seed: the seed, a non-negative int.
    """
    import_paddle().seed(seed)
