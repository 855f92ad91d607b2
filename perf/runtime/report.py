"""Runtime report: fastparl's local backend against a raw socketpair, plain ``multiprocessing``, memcpy (and Ray).

Run from the repository root::

    python -m perf.runtime                 # full report, a few minutes on 2 cores
    python -m perf.runtime --quick         # smoke test, well under a minute on 2 cores
    python -m perf.runtime --max-actors 16 --only scaling,arrays --out perf/results

Everything is measured in one run on one machine, and each fastparl number is put beside its
baseline from the same run (ratios), since absolute numbers move with the machine and its load.
The measurements live in one module per family (see perf/README.md for every column):

- :mod:`perf.runtime.calls`: no-op latency (same CPU / across CPUs), pipelined futures, N threads on one actor;
- :mod:`perf.runtime.data`: arrays 1 KB .. 128 MB in and out against the floor (no-op + 2 memcpy) and the
  mp proxy, the out-of-band threshold sweep, ``shared_array`` handoff, ``put()`` broadcast;
- :mod:`perf.runtime.procs`: actor start -> first call, a fresh interpreter's costs and footprint;
- :mod:`perf.common.cpu_scaling`: CPU scaling of N actors against ``multiprocessing.Pool(N)``;
- :mod:`perf.runtime.peers`: Ray and PARL serving the same class, when present.

This module lists the sections, states the targets (perf/README.md, "Targets"; issue 10) and renders the
report; :mod:`perf.common.harness` runs it and :mod:`perf.common.plots` draws ``runtime_*.png`` (if
matplotlib is importable).
Every section uses only the public API, so the same sections measure any backend ``connect`` picks.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import fastparl
from perf.common import cpu_scaling
from perf.common.harness import (MB, REPO, TARGET_HEAD, children_left, error_line, md_table, run_report, size_name,
                                 target_row)
from perf.runtime import calls, data, peers, procs
from perf.runtime.config import TARGETS, Config

__all__ = ["SECTIONS", "TARGETS", "targets", "render", "main"]

# (name for --only, measurement) in the order they run; RENDER gives the order they are shown in.
SECTIONS: list[tuple[str, Callable[[Config], dict]]] = [
    ("latency", calls.bench_latency), ("pipelined", calls.bench_pipelined), ("threads", calls.bench_threads),
    ("start", procs.bench_start), ("fresh", procs.bench_fresh), ("arrays", data.bench_arrays),
    ("shared", data.bench_shared), ("put", data.bench_put), ("scaling", cpu_scaling.bench_scaling),
    ("ray", peers.bench_ray), ("parl", peers.bench_parl),
]
RENDER: list[tuple[str, Callable[[dict], list[str]], str]] = [  # (section, Markdown, key that marks a result)
    ("latency", calls.md_latency, "worst_ratio_p50"), ("pipelined", calls.md_pipelined, "500"),
    ("threads", calls.md_threads, "rows"), ("arrays", data.md_arrays, "rows"), ("shared", data.md_shared, "rows"), ("put", data.md_put, "send_each_ms"),
    ("start", procs.md_start, "fastparl_first_call_ms"), ("fresh", procs.md_fresh, "connect_ms"),
    ("scaling", procs.md_scaling, "rows"),
]
PLOTS = [("latency", calls.plot_latency), ("arrays", data.plot_arrays), ("threads", calls.plot_threads),
         ("scaling", procs.plot_scaling)]


def _ok(R: dict, name: str, key: str) -> dict | None:
    sec = R.get(name)
    return sec if isinstance(sec, dict) and sec.get(key) else None


# ============================================================================ targets
def targets(R: dict) -> list[list[str]]:
    """One row per target: measured, baseline from the same run, target, met / not met."""
    T, rows = TARGETS, []
    if lat := _ok(R, "latency", "worst_ratio_p50"):
        places = {k: v["systems"] for k, v in lat.items() if isinstance(v, dict)}
        w = lat["worst_ratio_p50"]
        rows.append(target_row(
            "no-op call p50", "; ".join(f"{p}: {s['fastparl']['p50_us']:.1f} µs = {s['fastparl']['ratio_p50']:.2f}× raw"
                                        for p, s in places.items()),
            "; ".join(f"{p}: raw {s['raw socketpair']['p50_us']:.1f} µs, mp {s['mp Pipe proxy']['p50_us']:.1f} µs"
                      for p, s in places.items()),
            f"≤ {T['noop_ratio']:g}× raw (worse placement)", w <= T["noop_ratio"], f"worse: {w:.2f}×"))
    if arrs := _ok(R, "arrays", "rows"):
        small = data.small_rows(arrs, int(T["array_small_max_bytes"]))
        span = f"{size_name(small[0]['bytes'])}–{size_name(small[-1]['bytes'])}" if small else ""
        if small:
            fl = max(((r[f"fastparl_{d}_x_floor"], d, r["bytes"]) for r in small for d in ("in", "out")))
            rows.append(target_row(
                f"arrays {span} in / out vs floor",
                f"worst {fl[0]:.2f}× floor ({fl[1]} at {size_name(fl[2])}); in "
                + ", ".join(f"{r['fastparl_in_x_floor']:.2f}" for r in small) + "; out "
                + ", ".join(f"{r['fastparl_out_x_floor']:.2f}" for r in small),
                "floor " + ", ".join(f"{r['floor_s'] * 1e6:.0f}" for r in small) + " µs",
                f"≤ {T['array_floor_ratio']:g}× floor at every size", fl[0] <= T["array_floor_ratio"]))
            mw = max(((r[f"fastparl_{d}_x_mp"], d, r["bytes"]) for r in small for d in ("in", "out")))
            rows.append(target_row(
                f"arrays {span} in / out vs mp proxy",
                f"worst {mw[0]:.2f}× the mp proxy's time ({mw[1]} at {size_name(mw[2])}); fastparl in / out "
                + ", ".join(f"{r['fastparl_in_s'] * 1e6:.0f}/{r['fastparl_out_s'] * 1e6:.0f}" for r in small) + " µs",
                "mp in / out " + ", ".join(f"{r['mp_in_s'] * 1e6:.0f}/{r['mp_out_s'] * 1e6:.0f}" for r in small) + " µs",
                "faster than the mp proxy at every size", mw[0] < 1.0))
        for r in arrs["rows"]:
            if r["bytes"] != 128 * MB:
                continue
            for d in ("in", "out"):
                x = r[f"fastparl_{d}_x_memcpy"]
                rows.append(target_row(f"128 MB array {d}", f"{r[f'fastparl_{d}_GBps']:.2f} GB/s = {x:.2f}× memcpy",
                                       f"memcpy {r['memcpy_GBps']:.2f} GB/s; mp {r[f'mp_{d}_GBps']:.2f} GB/s",
                                       f"≥ {T['array_128mb_ratio']:g}× memcpy", x >= T["array_128mb_ratio"]))
    if th := _ok(R, "threads", "rows"):
        rs = th["rows"]
        rows.append(target_row(
            "N threads calling one actor", ", ".join(f"N={r['threads']}: {r['fastparl_calls_s'] / 1e3:.1f}k" for r in rs)
            + " calls/s", "mp proxy + lock: " + ", ".join(f"{r['mp_calls_s'] / 1e3:.1f}k" for r in rs),
            "≥ the mp proxy's calls/s at every N", all(r["ratio"] >= 1 for r in rs),
            "worst " + f"{min(r['ratio'] for r in rs):.2f}× mp"))
    if pipe := _ok(R, "pipelined", "500"):
        p = pipe["500"]
        extra = f"; 5000: {pipe['5000']['fastparl_calls_s'] / 1e3:.0f}k" if "5000" in pipe else ""
        rows.append(target_row("500 pipelined futures, 1 actor", f"{p['fastparl_calls_s'] / 1e3:.0f}k calls/s{extra}",
                               f"mp proxy {p['mp_calls_s'] / 1e3:.0f}k calls/s",
                               f"≥ {T['pipelined_calls_s'] / 1e3:.0f}k calls/s", p["fastparl_calls_s"] >= T["pipelined_calls_s"]))
    if sh := _ok(R, "shared", "rows"):
        meds = [r["median_us"] for r in sh["rows"]]
        rows.append(target_row("shared_array handoff 1 KB..128 MB", f"{min(meds):.1f}–{max(meds):.1f} µs "
                               f"(max/min {sh['max_over_min']:.2f})", f"no-op {sh['noop_us']:.1f} µs", "O(1) in size "
                               "(max/min ≤ 1.5)", sh["max_over_min"] <= 1.5))
    fr = _ok(R, "fresh", "connect_ms")
    if st := _ok(R, "start", "fastparl_first_call_ms"):
        base = f"mp fork+Pipe {st['mp_fork_first_call_ms']:.1f} ms (from this {st['driver_rss_mb_at_fork']:.0f} MB driver)"
        if fr:
            base += f", {fr['mp_first_call_ms']:.1f} ms (fresh driver)"
        once = f"; fork server start {fr['connect_ms']:.0f} ms once" if fr else ""
        rows.append(target_row("start actor → first call", f"{st['fastparl_first_call_ms']:.1f} ms "
                               f"(p90 {st['fastparl_first_call_p90_ms']:.1f}){once}", base, f"≤ {T['start_ms']:g} ms",
                               st["fastparl_first_call_ms"] <= T["start_ms"]))
    if fr and fr.get("runtime_rss_mb") is not None:
        rss, pss = fr["runtime_rss_mb"], fr.get("runtime_pss_mb")
        rows.append(target_row(
            "runtime footprint, 1 actor", f"{fr['processes']} child processes (fork server + actor); RSS {rss:.0f} MB"
            + (f", PSS {pss:.0f} MB" if pss is not None else "") + f"; driver +{fr['driver_rss_delta_connect_mb']:.0f} MB",
            f"mp: {fr['mp_processes']} / RSS {fr['mp_child_rss_mb']:.0f} MB (PSS {fr['mp_child_pss_mb']:.0f})",
            f"1 + actors (+ fork server), ≤ {T['overhead_mb']:g} MB RSS", fr["processes"] == 2 and rss <= T["overhead_mb"]))
    if sc := _ok(R, "scaling", "rows"):
        last = sc["rows"][-1]["n"]
        for r in sc["rows"]:
            if r["n"] not in (2, 16, last) or r["n"] == 1:
                continue
            # against Pool: the same work at the same N, so loops/s (each system's own T1 varies by tens of
            # percent between processes on these VMs, which would make speedup ratios compare T1s, not scaling)
            vs_pool = r["fastparl_loops_s"] / r["pool_loops_s"]
            got = (f"{r['fastparl_speedup']:.2f} ({r['fastparl_eff']:.2f} N); loops/s {vs_pool:.2f}× Pool's")
            base = f"Pool {r['pool_speedup']:.2f} ({r['pool_eff']:.2f} N)"
            if r["n"] == 2:
                rows.append(target_row("CPU-bound speedup, N = 2", got, base, f"≥ {T['scaling_eff_2']:g} N and ≥ Pool",
                                       r["fastparl_eff"] >= T["scaling_eff_2"] and vs_pool >= 1.0))
            elif r["n"] == 16:
                rows.append(target_row("CPU-bound speedup, N = 16", got, base, f"≥ {T['scaling_eff_16']:g} N",
                                       r["fastparl_eff"] >= T["scaling_eff_16"]))
            else:
                rows.append(target_row(f"CPU-bound speedup, N = {r['n']}", got, base, "(targets at N = 2 and 16)", None))
    return rows


# ============================================================================ report
def render(R: dict) -> str:
    M, cfg = R["machine"], R.get("config", {})
    cmd = "python -m perf.runtime" + "".join(f" {a}" for a in R.get("argv", []))
    title = "fastparl runtime report" + (f" — backend `{R['backend']}`" if R.get("backend") else "")
    L = [f"# {title}", "",
         f"`{cmd}` — {M['date']}, total {R['elapsed_s']:.0f} s, N up to {cfg.get('max_actors', '?')}", "",
         f"- CPU: {M['cpu']}, {M['cores']} cores ({M['usable_cores']} usable), {M.get('memory_gb')} GB RAM",
         f"- Python {M['python']}, NumPy {M['numpy']}, fastparl {getattr(fastparl, '__version__', '?')} at "
         f"{R.get('code', '?')}, {M['platform']}",
         f"- load average at start {M['loadavg_start']}, at end {M.get('loadavg_end')} (other work on the machine "
         "inflates times and p99s; ratios are taken within one run, systems interleaved)"]
    if M.get("dont_write_bytecode"):
        L.append("- `PYTHONDONTWRITEBYTECODE` is set: modules without a `__pycache__` are compiled from source on every "
                 "import, so each actor compiles the module of its class (perf/common/baselines.py) when it starts, and the "
                 "fork server compiles fastparl when it starts")
    L += ["", "## Targets (perf/README.md, issue 10)", ""] + md_table(TARGET_HEAD, targets(R)) + [""]
    for name, md, key in RENDER:
        if _ok(R, name, key):
            L += md(R[name])
        L += error_line(R.get(name))
    L += peers.md_peers(R)
    if R.get("plots"):
        L += ["## Plots", ""] + [f"![{p}]({p})" for p in R["plots"]] + [""]
    if R.get("leftover_processes") is not None:
        L.append(f"Processes left under the driver after `fastparl.disconnect()`: {R['leftover_processes']}.")
    return "\n".join(L)


def _code_version() -> str:
    """The commit measured, and whether fastparl/ had uncommitted changes (others edit this tree while it runs)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "fastparl"], cwd=REPO, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted changes in fastparl/" if dirty else "")


def main(argv: list[str] | None = None, name: str = "runtime", connect: str | None = None) -> dict:
    """Run the report (``argv``: the command-line options).  ``name`` and ``connect`` measure another backend with
    the same sections: the files are ``<name>.md/.json/_*.png`` and ``fastparl.connect(connect)`` picks the backend."""
    cfgs: list[Config] = []

    def make_config(a: Any) -> Config:
        cfgs.append(Config(a.quick, a.max_actors, {s.strip() for s in a.only.split(",") if s.strip()}))
        return cfgs[0]

    def setup(cfg: Config) -> Callable[[], None]:
        fastparl.connect(connect)
        return fastparl.disconnect

    def finish(R: dict, out_dir: str) -> None:
        R["config"], R["targets"], R["backend"] = cfgs[0].as_dict(), TARGETS, connect
        R["code"] = _code_version()
        R["leftover_processes"] = children_left()
        R["plots"] = [p for section, plot in PLOTS if _ok(R, section, "rows" if section != "latency" else "worst_ratio_p50")
                      for p in plot(R[section], out_dir, name)]

    def add_args(ap: Any) -> None:
        ap.add_argument("--max-actors", type=int, default=len(os.sched_getaffinity(0)),
                        help="largest N in the scaling test (default: the usable cores)")

    return run_report(name, SECTIONS, render, make_config, argv, add_args=add_args, setup=setup, finish=finish,
                      description=(__doc__ or "").split("\n")[0])

