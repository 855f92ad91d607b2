"""fastparl demo: a remote class on every core, then (with paddle installed) a tiny training run.

    python examples/demo.py            # both parts
    python examples/demo.py --no-train # only the parallel part (needs no deep-learning framework)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import fastparl


@fastparl.remote_class(wait=False)
class PrimeCounter:
    """Pure-Python CPU work: holds the GIL the whole time, so threads could not run it in parallel."""

    def count(self, lo: int, hi: int) -> int:
        found = 0
        for n in range(max(lo, 2), hi):
            d = 2
            while d * d <= n:
                if n % d == 0:
                    break
                d += 1
            else:
                found += 1
        return found


def count_serial(chunks: list[tuple[int, int]]) -> int:
    local = PrimeCounter._fp_cls()  # the undecorated class, run here
    return sum(local.count(lo, hi) for lo, hi in chunks)


def parallel_part(limit: int) -> None:
    n_actors = os.cpu_count() or 1
    chunks = [(i * limit // n_actors, (i + 1) * limit // n_actors) for i in range(n_actors)]
    # Equal work per chunk matters for speedup: interleave ranges so each actor gets a fair share.
    step = 2000
    work = [[(lo, min(lo + step, limit)) for lo in range(k * step, limit, n_actors * step)] for k in range(n_actors)]

    t0 = time.perf_counter()
    serial = count_serial(chunks)
    t_serial = time.perf_counter() - t0

    t0 = time.perf_counter()
    fastparl.connect()  # optional (the first actor would connect); starts the fork server once
    t_connect = time.perf_counter() - t0
    t0 = time.perf_counter()
    actors = [PrimeCounter() for _ in range(n_actors)]
    t_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    futures = [a.count(lo, hi) for a, w in zip(actors, work) for lo, hi in w]
    parallel = sum(fastparl.get(futures))
    t_parallel = time.perf_counter() - t0
    if parallel != serial:
        sys.exit(f"mismatch: serial counted {serial} primes, parallel {parallel}")

    print(f"\nCounting primes below {limit:,} in pure Python ({serial:,} found)\n")
    print("| actors | serial (s) | parallel (s) | speedup | efficiency | connect (ms) | actor start (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    speedup = t_serial / t_parallel
    print(f"| {n_actors} | {t_serial:.2f} | {t_parallel:.2f} | {speedup:.2f}x | {speedup / n_actors:.0%} "
          f"| {1e3 * t_connect:.0f} | {1e3 * t_start / n_actors:.1f} |")
    for a in actors:
        fastparl.kill(a)


def training_part(seconds: float, logdir: str, steps: int | None = None, seeds: int = 2) -> None:
    import importlib.util

    if importlib.util.find_spec("paddle") is None:
        print("\n(paddle is not installed: skipping the training part; pip install 'fastparl[paddle]')")
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from demo_train import train_and_plot

    train_and_plot(seconds, logdir, seeds=tuple(range(seeds)), steps=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=600_000, help="count primes below this number")
    parser.add_argument("--no-train", action="store_true", help="skip the training part")
    parser.add_argument("--train-seconds", type=float, default=40.0, help="training time budget")
    parser.add_argument("--train-steps", type=int, default=None, help="env steps per seed (overrides --train-seconds)")
    parser.add_argument("--seeds", type=int, default=2, help="training runs (seeds 0, 1, ...)")
    parser.add_argument("--logdir", default="runs/demo", help="where the training log and curve go")
    args = parser.parse_args()
    parallel_part(args.limit)
    if not args.no_train:
        training_part(args.train_seconds, args.logdir, args.train_steps, args.seeds)


if __name__ == "__main__":
    main()
