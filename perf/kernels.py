"""Time fastparl.kernels on 1M steps against pure Python, the best NumPy/SciPy form and the bandwidth bound.

Run from the repository root: ``python -m perf.kernels [--quick] [--out DIR]`` (or ``python perf/kernels.py``).
Prints a Markdown table and writes it to ``perf/results/kernels.md``.  All times are medians over repeats in
this one run.  The pure-Python reference (``fastparl.kernels._reference``) is timed on a slice of
``PY_STEPS`` steps and scaled linearly to 1M steps (its cost is linear in steps).  The bandwidth
bound is (bytes read + bytes written by the kernel) / (memcpy rate), the memcpy rate being
(2 x bytes) / time of ``np.copyto`` on a 256 MiB float32 array, measured in the same run.
``--quick`` takes 3 repeats instead of 15; ``--out DIR`` (default ``perf/results``) also gets
``kernels.json``.  Runs on :mod:`perf._harness` like the other reports.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

if __package__ in (None, ""):  # python perf/kernels.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastparl.kernels import SumTree, discounted_returns, gae, nstep_targets, vtrace  # noqa: E402
from fastparl.kernels import _reference as ref  # noqa: E402
from perf._harness import MB, md_table, median, memcpy_seconds, run_report, time_once  # noqa: E402

STEPS = 1_000_000
PY_STEPS = 20_000
SHAPES = [(1_000_000, 1), (1000, 1000)]
GAMMA, LAM, NSTEP = 0.99, 0.95, 5
P_END = 0.005  # episode ends per step (mean episode length 200)
REPEATS = 15


def median_ms(fn: Callable[[], Any], repeats: int | None = None) -> float:
    fn()  # warm-up (compilation is cached on disk, caches warm)
    return median([time_once(fn) for _ in range(repeats or REPEATS)]) * 1e3


def memcpy_rate() -> float:
    """Bytes (read + written) per second of np.copyto on an array much larger than the caches."""
    nbytes = 256 * MB
    return 2 * nbytes / median(memcpy_seconds(nbytes, 7))


# ---------------------------------------------------------------- best NumPy / SciPy forms

def _segments(flags: np.ndarray) -> list[tuple[int, int]]:
    ends = np.flatnonzero(flags) + 1
    bounds = np.concatenate([[0], ends[ends < len(flags)], [len(flags)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _lfilter_backward(x: np.ndarray, coef: float, flags: np.ndarray, out: np.ndarray) -> None:
    """out = backward discounted sum of x with factor coef, restarted after each flagged step."""
    from scipy.signal import lfilter

    for a, b in _segments(flags):
        out[a:b] = lfilter([1.0], [1.0, -coef], x[a:b][::-1])[::-1]


def np_returns_lfilter(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    out = np.empty_like(r)
    for n in range(r.shape[1]):
        _lfilter_backward(r[:, n], GAMMA, d[:, n], out[:, n])
    return out


def np_returns_timeloop(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    out = np.empty_like(r)
    acc = np.zeros(r.shape[1], r.dtype)
    live = (~d).astype(r.dtype) * r.dtype.type(GAMMA)
    for t in range(r.shape[0] - 1, -1, -1):
        acc = r[t] + live[t] * acc
        out[t] = acc
    return out


def np_gae_lfilter(r: np.ndarray, v: np.ndarray, d: np.ndarray, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nxt = np.concatenate([v[1:], lv[None]])
    delta = r + GAMMA * (~d) * nxt - v
    adv = np.empty_like(r)
    for n in range(r.shape[1]):
        _lfilter_backward(delta[:, n], GAMMA * LAM, d[:, n], adv[:, n])
    return adv, adv + v


def np_gae_timeloop(r: np.ndarray, v: np.ndarray, d: np.ndarray, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nxt = np.concatenate([v[1:], lv[None]])
    live = (~d).astype(r.dtype)
    delta = r + GAMMA * live * nxt - v
    coef = live * r.dtype.type(GAMMA * LAM)
    adv = np.empty_like(r)
    acc = np.zeros(r.shape[1], r.dtype)
    for t in range(r.shape[0] - 1, -1, -1):
        acc = delta[t] + coef[t] * acc
        adv[t] = acc
    return adv, adv + v


def np_vtrace_timeloop(bl: np.ndarray, tl: np.ndarray, r: np.ndarray, v: np.ndarray, d: np.ndarray,
                       lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PARL's from_importance_weights in NumPy (vectorised over envs, a loop over time)."""
    rhos = np.exp(tl - bl)
    crho = np.minimum(rhos, 1.0)
    disc = GAMMA * (~d).astype(r.dtype)
    nxt = np.concatenate([v[1:], lv[None]])
    deltas = crho * (r + disc * nxt - v)
    dc = disc * crho
    acc = np.zeros(r.shape[1], r.dtype)
    vs_minus_v = np.empty_like(r)
    for t in range(r.shape[0] - 1, -1, -1):
        acc = deltas[t] + dc[t] * acc
        vs_minus_v[t] = acc
    vs = vs_minus_v + v
    vs_next = np.concatenate([vs[1:], lv[None]])
    return vs, crho * (r + disc * vs_next - v)


def np_nstep(r: np.ndarray, d: np.ndarray, nv: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """n vectorised passes: add gamma^k r_{t+k} while the window is open, bootstrap where it closes."""
    T = r.shape[0]
    out = np.zeros_like(r)
    disc = np.ones_like(r)
    open_ = np.ones(r.shape, dtype=bool)
    t_idx = np.arange(T)[:, None]
    for k in range(NSTEP):
        sl = slice(k, T)
        rk = np.zeros_like(r)
        rk[: T - k] = r[sl]
        dk = np.zeros_like(d)
        dk[: T - k] = d[sl]
        nk = np.zeros_like(r)
        nk[: T - k] = nv[sl]
        out += np.where(open_, disc * rk, 0.0)
        stop = open_ & (dk | (t_idx + k == T - 1) | (k == NSTEP - 1))
        out += np.where(stop & ~dk, disc * GAMMA * nk, 0.0)
        open_ &= ~stop
        disc *= GAMMA
    return out


# ---------------------------------------------------------------- sum tree baselines

class PySumTree:
    """Pure-Python list-based sum tree (the structure of openai/baselines' SumSegmentTree)."""

    def __init__(self, capacity: int) -> None:
        self.base = 1 << (capacity - 1).bit_length()
        self.t = [0.0] * (2 * self.base)

    def update(self, indices: list[int], priorities: list[float]) -> None:
        t = self.t
        for i, p in zip(indices, priorities):
            i += self.base
            t[i] = p
            i //= 2
            while i:
                t[i] = t[2 * i] + t[2 * i + 1]
                i //= 2

    def sample(self, batch: int, rng: Any) -> list[int]:
        t, seg, out = self.t, self.t[1] / batch, []
        for k in range(batch):
            u, i = (k + rng.random()) * seg, 1
            while i < self.base:
                if u < t[2 * i]:
                    i = 2 * i
                else:
                    u -= t[2 * i]
                    i = 2 * i + 1
            out.append(i - self.base)
        return out


# ---------------------------------------------------------------- driver

def _data(T: int, N: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = np.float32
    return {"r": rng.normal(size=(T, N)).astype(f), "v": rng.normal(size=(T, N)).astype(f),
            "d": rng.random((T, N)) < P_END, "lv": rng.normal(size=N).astype(f),
            "bl": rng.normal(-1, 0.5, (T, N)).astype(f), "tl": rng.normal(-1, 0.5, (T, N)).astype(f)}


def _py_ms(fn: Callable[[dict[str, np.ndarray]], Any], T: int, N: int) -> float:
    """Time the reference on a slice of about PY_STEPS steps (same N if it fits) and scale to T*N."""
    t_small = max(1, PY_STEPS // N)
    small = _data(t_small, N)
    steps = small["r"].size
    return median_ms(lambda: fn(small), repeats=3) * (T * N) / steps


def bench_shape(T: int, N: int, rate: float) -> list[dict[str, Any]]:
    x = _data(T, N)
    r, v, d, lv, bl, tl = x["r"], x["v"], x["d"], x["lv"], x["bl"], x["tl"]
    rows: list[dict[str, Any]] = []
    kernels = [
        ("discounted_returns", 9, lambda: discounted_returns(r, d, GAMMA),
         lambda s: ref.ref_discounted_returns(s["r"], s["d"], GAMMA),
         {"lfilter/episode": lambda: np_returns_lfilter(r, d), "numpy time-loop": lambda: np_returns_timeloop(r, d)}),
        ("gae", 17, lambda: gae(r, v, d, lv, GAMMA, LAM),
         lambda s: ref.ref_gae(s["r"], s["v"], s["d"], s["lv"], GAMMA, LAM),
         {"lfilter/episode": lambda: np_gae_lfilter(r, v, d, lv), "numpy time-loop": lambda: np_gae_timeloop(r, v, d, lv)}),
        ("vtrace", 25, lambda: vtrace(bl, tl, r, v, d, lv, GAMMA),
         lambda s: ref.ref_vtrace(s["bl"], s["tl"], s["r"], s["v"], s["d"], s["lv"], GAMMA),
         {"numpy time-loop (PARL form)": lambda: np_vtrace_timeloop(bl, tl, r, v, d, lv)}),
        (f"nstep_targets (n={NSTEP})", 13, lambda: nstep_targets(r, d, v, GAMMA, NSTEP),
         lambda s: ref.ref_nstep_targets(s["r"], s["d"], s["v"], GAMMA, NSTEP),
         {"numpy n-pass": lambda: np_nstep(r, d, v)}),
    ]
    for name, bytes_per_step, fast, py, numpy_forms in kernels:
        fast_ms = median_ms(fast)
        py_ms = _py_ms(py, T, N)
        best_name, best_ms = "", float("inf")
        for label, fn in numpy_forms.items():
            # Python-level time loops over 1M steps are slow: time a slice and scale for those.
            if "time-loop" in label and T > 20_000:
                xs = {k: (a[:20_000] if a.ndim == 2 else a) for k, a in x.items()}
                ms = _numpy_slice_ms(label, name, xs) * T / 20_000
                label += " (scaled from 20k steps)"
            else:
                ms = median_ms(fn, repeats=3)
            if ms < best_ms:
                best_name, best_ms = label, ms
        bound_ms = bytes_per_step * T * N / rate * 1e3
        rows.append({"kernel": name, "shape": f"({T}, {N})", "fast": fast_ms, "py": py_ms, "np": best_ms,
                     "np_name": best_name, "bound": bound_ms, "bytes": bytes_per_step})
    return rows


def _numpy_slice_ms(label: str, name: str, s: dict[str, np.ndarray]) -> float:
    fns = {"discounted_returns": lambda: np_returns_timeloop(s["r"], s["d"]),
           "gae": lambda: np_gae_timeloop(s["r"], s["v"], s["d"], s["lv"]),
           "vtrace": lambda: np_vtrace_timeloop(s["bl"], s["tl"], s["r"], s["v"], s["d"], s["lv"])}
    return median_ms(fns[name], repeats=3)


def bench_sumtree() -> dict[str, float]:
    import random

    cap, batch = 1_000_000, 256
    rng = np.random.default_rng(0)
    tree = SumTree(cap)
    pr = rng.random(cap) + 0.01
    tree.set_all(pr)
    py_tree = PySumTree(cap)
    py_tree.update(list(range(cap)), pr.tolist())
    idx = rng.integers(0, cap, batch)
    newp = rng.random(batch) + 0.01
    pyrng = random.Random(0)

    def np_step() -> None:  # NumPy form: flat priorities, cumsum + searchsorted per batch
        pr[idx] = newp
        c = np.cumsum(pr)
        u = (np.arange(batch) + rng.random(batch)) * (c[-1] / batch)
        np.searchsorted(c, u, side="right")

    return {
        "fast": median_ms(lambda: (tree.update(idx, newp), tree.sample(batch, rng))),
        "py": median_ms(lambda: (py_tree.update(idx.tolist(), newp.tolist()), py_tree.sample(batch, pyrng)),
                        repeats=5),
        "np": median_ms(np_step, repeats=5),
    }


def bench_kernels(cfg: Any) -> dict:
    rate = memcpy_rate()
    rows: list[dict[str, Any]] = []
    for T, N in SHAPES:
        rows += bench_shape(T, N, rate)
    return {"memcpy_rw_Bps": rate, "rows": rows}


def render(R: dict) -> str:
    m, k, st = R["machine"], R.get("kernels", {}), R.get("sumtree", {})
    lines = [
        "# fastparl.kernels timings",
        "",
        f"`python -m perf.kernels{' --quick' if R['quick'] else ''}` — {m['date']}, {m['cpu']}, {m['usable_cores']} "
        f"cores, load {m['loadavg_start']} → {m.get('loadavg_end')}, Python {m['python']}, NumPy {m['numpy']}.  1M steps "
        f"per row, float32, episode ends with p={P_END} per step, gamma={GAMMA}, lambda={LAM}.  Medians over {REPEATS} "
        "runs (3 for the slow baselines).",
    ]
    if k.get("rows"):
        lines += [
            f"memcpy rate (np.copyto, 256 MiB, read+write bytes / time): **{k['memcpy_rw_Bps'] / 1e9:.1f} GB/s**.  "
            "Bound = kernel bytes read+written / that rate.  Python = `fastparl.kernels._reference` timed on "
            f"{PY_STEPS:,} steps and scaled linearly to 1M.", ""]
        lines += md_table(["kernel", "shape (T, N)", "fastparl ms", "pure Python ms", "best NumPy/SciPy ms (form)",
                           "bound ms (B/step)", "× Python", "× NumPy", "÷ bound"],
                          [[x["kernel"], x["shape"], f"{x['fast']:.2f}", f"{x['py']:.0f}", f"{x['np']:.1f} ({x['np_name']})",
                            f"{x['bound']:.2f} ({x['bytes']})", f"{x['py'] / x['fast']:.0f}×", f"{x['np'] / x['fast']:.1f}×",
                            f"{x['fast'] / x['bound']:.2f}"] for x in k["rows"]])
    if "fast" in st:
        lines += ["", "SumTree, capacity 1M, one prioritized-replay step = update 256 priorities + stratified sample of "
                  "256 (random access, so no bandwidth bound):", ""]
        lines += md_table(["SumTree", "fastparl ms", "pure-Python tree ms", "NumPy cumsum+searchsorted ms", "× Python",
                           "× NumPy"],
                          [["update+sample 256", f"{st['fast']:.3f}", f"{st['py']:.2f}", f"{st['np']:.2f}",
                            f"{st['py'] / st['fast']:.0f}×", f"{st['np'] / st['fast']:.0f}×"]])
    for name in ("kernels", "sumtree"):
        if "error" in R.get(name, {}):
            lines += ["", f"**{name} failed:** `{R[name]['error']}`"]
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> dict:
    def make_config(a: Any) -> Any:
        global REPEATS
        REPEATS = 3 if a.quick else REPEATS
        return a

    return run_report("kernels", [("kernels", bench_kernels), ("sumtree", lambda cfg: bench_sumtree())], render,
                      make_config, argv, description=(__doc__ or "").split("\n")[0])


if __name__ == "__main__":
    main()
