"""PARL's ``parl.utils.path_utils``, and :func:`atomic_folder` (checkpoints that are never half-written)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

__all__ = ["atomic_folder", "format_uniform_path"]


def format_uniform_path(path: str) -> str:
    """``path`` with every ``//``, ``/`` and ``\\`` replaced by this system's separator (``os.sep``)."""
    return path.replace("//", os.sep).replace("/", os.sep).replace("\\", os.sep)


@contextlib.contextmanager
def atomic_folder(folder: str) -> Iterator[str]:
    """Write a folder's new contents into ``folder + ".tmp"`` (yielded), then swap it in for ``folder``.

    A process killed while writing leaves the previous ``folder`` whole (and a ``.tmp`` the next call clears);
    killed during the swap, ``folder + ".old"`` holds the previous one.  If the block raises, ``folder`` is
    left as it was.
    """
    tmp, old = folder + ".tmp", folder + ".old"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    yield tmp
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(folder):
        os.rename(folder, old)
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
