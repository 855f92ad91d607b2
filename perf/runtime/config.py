"""What the runtime report's measurement modules share: the repeats and the targets.

The actors are :mod:`perf.common.actors` (the benchmark class :class:`perf.common.baselines.Bench`,
shipped to actors by reference, as a user's own module would be).  Every section uses only the public
API, so it measures whichever backend ``fastparl.connect`` chose.
"""

from __future__ import annotations

from typing import Any

from perf.common.harness import KB, MB

__all__ = ["Config", "TARGETS"]

TARGETS: dict[str, float] = {  # perf/README.md "Targets" and issue 10
    "noop_ratio": 1.5,  # fastparl / raw socketpair RTT, p50, the worse of the two placements
    "array_floor_ratio": 1.5,  # 1 KB .. 1 MB, in and out: call time / (no-op + 2 memcpy of the payload)
    "array_small_max_bytes": 1 * MB,
    "array_128mb_ratio": 0.8,  # x memcpy, in and out
    "pipelined_calls_s": 150_000,
    "start_ms": 10.0,
    "overhead_mb": 60.0,
    "scaling_eff_2": 0.95,
    "scaling_eff_16": 0.90,
}


class Config:
    """Repeats of every section: ``quick`` is a smoke test (seconds), the default the committed report."""

    def __init__(self, quick: bool, max_actors: int, only: set[str] | None = None):
        self.quick = quick
        self.max_actors = max(1, max_actors)
        self.only = only or set()
        self.lat_samples = 4000 if quick else 30000  # per system and placement, in rounds
        self.lat_rounds = 4 if quick else 10
        self.pipe_reps = {500: 6, 5000: 2} if quick else {500: 30, 5000: 8}
        self.thread_ns = [1, 4, 16]
        self.thread_calls = 1200 if quick else 8000  # calls per measurement, split among the threads
        self.thread_reps = 3 if quick else 9
        self.array_sizes = ([1 * KB, 64 * KB, 1 * MB, 16 * MB, 128 * MB] if quick else
                            [1 * KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, 1 * MB, 16 * MB, 128 * MB])
        self.sweep_sizes = [4 * KB, 16 * KB, 32 * KB, 64 * KB, 128 * KB, 256 * KB, 1 * MB]
        self.sweep_reps = 40 if quick else 200
        self.shared_reps = 30 if quick else 200
        self.put_reps = 2 if quick else 5
        self.start_n = 8 if quick else 20
        self.probe_runs = 1 if quick else 5
        self.spin_seconds = 0.08 if quick else 0.3
        self.spin_reps = 2 if quick else 5

    def array_reps(self, size: int) -> int:
        """Calls per system at ``size``: many for small arrays (µs each), few for 128 MB (0.1 s+ each)."""
        if size <= 64 * KB:
            return 60 if self.quick else 600
        if size <= 1 * MB:
            return 30 if self.quick else 300
        if size <= 16 * MB:
            return 6 if self.quick else 25
        return 3 if self.quick else 11

    def wants(self, section: str) -> bool:
        """Whether an optional, slow section (Ray, PARL) runs: always in a full run, in ``--quick`` only when
        ``--only`` names it."""
        return not self.quick or section in self.only

    def as_dict(self) -> dict[str, Any]:
        return {"quick": self.quick, "max_actors": self.max_actors, "array_sizes": self.array_sizes,
                "thread_ns": self.thread_ns}
