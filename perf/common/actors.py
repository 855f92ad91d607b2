"""The workload class :class:`perf.common.baselines.Bench` as fastparl actors.

``Bench`` is shipped to actors by reference (module ``perf.common.baselines``), as a user's own module
would be.  The reports use only the public API, so these measure whichever backend ``fastparl.connect``
chose (local, ZeroMQ workers, Ray).
"""

from __future__ import annotations

import fastparl
from perf.common.baselines import Bench

__all__ = ["FpBench", "FpAsyncBench"]

FpBench = fastparl.remote_class(Bench)
FpAsyncBench = fastparl.remote_class(wait=False)(Bench)
