"""PARL's module path ``parl.utils.csv_logger``: the class lives in :mod:`fastparl.utils.progress`."""

from __future__ import annotations

from fastparl.utils.progress import CSVLogger

__all__ = ["CSVLogger"]
