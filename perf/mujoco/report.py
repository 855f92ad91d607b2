"""``python -m perf.mujoco report``: the mid-scale table (mean ± std over seeds) and curves, beside published values.

Writes perf/results/mujoco.{md,json,png}.  Beside fastparl's seeds, each row shows the SB3 run of the same
row (``sb3-<row>-s0``, ``perf/mujoco/sb3_run.py``) at the same budget on this machine.  ``PUBLISHED`` holds the
published values at the same step counts, each with its source, env version and uncertainty, read from
published data files (see the comment there); a row without one says so (never a guessed number).  Env versions differ (-v1/-v3 there, -v5 here): the dynamics
are the same MuJoCo models, but -v5 fixed several bugs, so a difference within the seeds' spread is no finding.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from typing import Any

import numpy as np

from perf.common.plots import pyplot, save
from perf.mujoco.runs import ROOT, Run, _done, _progress
from perf.training.sb3_models import DIFFERENCES

OUT = os.path.dirname(ROOT)
# group -> [(value, uncertainty, source)], at the run's step count, read from published data (issue 19):
# - TD3 paper's learning curves (github.com/sfujim/TD3, learning_curves/*.npy: gym MuJoCo -v1, 10 seeds, each point
#   10 deterministic episodes every 5k steps, index 60 = 300k); uncertainty = std over the 10 seeds.
# - SB3 rl-zoo's trained agents (github.com/DLR-RM/rl-trained-agents, <algo>/<env>_1/evaluations.npz: gym -v3,
#   ONE seed, 20 deterministic episodes per evaluation); uncertainty = std over those 20 episodes, not over seeds.
PUBLISHED: dict[str, list[tuple[float, float, str]]] = {
    "td3-halfcheetah": [(7697, 727, "TD3 paper curves, HalfCheetah-v1, 10 seeds"),
                        (8488, 158, "SB3 zoo, HalfCheetah-v3, 1 seed")],
    "td3-hopper": [(2410, 900, "TD3 paper curves, Hopper-v1, 10 seeds"), (2671, 525, "SB3 zoo, Hopper-v3, 1 seed")],
    "sac-halfcheetah": [(7197, 46, "SB3 zoo, HalfCheetah-v3, 1 seed")],
    "sac-hopper": [(1540, 669, "SB3 zoo, Hopper-v3, 1 seed")],
    "ppo-hopper": [(2335, 14, "SB3 zoo, Hopper-v3, 1 seed, tuned zoo hyper-parameters (normalised obs/reward)")],
}


def _curve(run: Run) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    path = os.path.join(run.folder, "progress.csv")
    if os.path.isfile(path):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("eval_return"):
                    xs.append(int(float(row["env_steps"])))
                    ys.append(float(row["eval_return"]))
    return np.asarray(xs), np.asarray(ys)


def _sb3_side(run: Run) -> dict[str, Any]:
    """One SB3 run's cell: its state, steps, last evaluation (the final one once done), wall time and speed."""
    p = _progress(run)
    state = "done" if _done(run) else ("partial" if p["steps"] else "pending")
    return {"run": run.name, "state": state, "steps": p["steps"], "eval_return": p["eval_return"],
            "wall_h": p["time_s"] / 3600, "steps_per_s": p["steps"] / p["time_s"] if p["time_s"] else None}


def _sb3_cell(sides: list[dict[str, Any]]) -> str:
    cells = []
    for s in sides:
        if s["state"] == "pending":
            cells.append("—")
            continue
        ev = "no eval yet" if s["eval_return"] is None else f"{s['eval_return']:.0f}"
        rate = "" if s["steps_per_s"] is None else f", {s['steps_per_s']:.0f} steps/s"
        where = "" if s["state"] == "done" else f"partial, at {s['steps']:,} steps: "
        cells.append(f"{where}{ev} ({s['wall_h']:.1f} h{rate})")
    return "; ".join(cells) or "not in this report"


def report(runs: list[Run]) -> int:
    groups: dict[str, dict[str, list[Run]]] = defaultdict(lambda: {"fastparl": [], "sb3": []})
    for r in runs:
        groups[r.row][r.system].append(r)
    rows: list[dict[str, Any]] = []
    for g, sides in groups.items():
        rs = sides["fastparl"]
        first = (rs or sides["sb3"])[0]
        done = [r for r in rs if _done(r)]
        finals = [_progress(r)["eval_return"] for r in done]
        hours = [_progress(r)["time_s"] / 3600 for r in done]
        rate = [_progress(r)["steps"] / max(_progress(r)["time_s"], 1e-9) for r in done]
        pub = PUBLISHED.get(g)
        partial = [{"run": r.name, "steps": _progress(r)["steps"], "eval_return": _progress(r)["eval_return"]}
                   for r in rs if not _done(r) and _progress(r)["steps"]]
        rows.append({"partial": partial, "group": g, "algo": first.algo, "env": first.env, "steps": first.steps, "seeds_done": len(done),
                     "seeds": len(rs), "mean": float(np.mean(finals)) if finals else None,
                     "std": float(np.std(finals)) if finals else None, "wall_h": float(np.mean(hours)) if hours else None,
                     "steps_per_s": float(np.mean(rate)) if rate else None, "published": pub,
                     "sb3": [_sb3_side(r) for r in sides["sb3"]]})
    lines = ["# Mid-scale MuJoCo runs (`python -m perf.mujoco`)", "",
             "Final evaluation: mean of 10 deterministic episodes at the end of each run; mean ± std over the finished "
             "seeds (runs under way: their seed, steps so far and last evaluation, in brackets).", "",
             "| algorithm | env | steps | seeds done | final return | wall (h / run) | env steps/s | SB3 here (same budget) "
             "| published |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        val = "—" if r["mean"] is None else f"{r['mean']:.0f} ± {r['std']:.0f}"
        if r["partial"]:  # runs under way: where they are (their last evaluation), apart from the finished seeds
            val += " (running: " + ", ".join(
                f"{p['run'].rsplit('-', 1)[1]} at {p['steps']:,}: "
                + ("no eval yet" if p["eval_return"] is None else f"{p['eval_return']:.0f}") for p in r["partial"]) + ")"
        pub = "not found yet" if not r["published"] else "; ".join(f"{v:.0f} ± {u:.0f} ({src})"
                                                                    for v, u, src in r["published"])
        wall = "—" if r["wall_h"] is None else f"{r['wall_h']:.1f}"
        rate = "—" if r["steps_per_s"] is None else f"{r['steps_per_s']:.0f}"
        lines.append(f"| {r['algo']} | {r['env']} | {r['steps']:,} | {r['seeds_done']} / {r['seeds']} | {val} | "
                     f"{wall} | {rate} | {_sb3_cell(r['sb3'])} | {pub} |")
    lines += ["", "**SB3 here**: one Stable-Baselines3 run (seed 0) per row on this machine, in the same run list "
              "(`perf/mujoco/sb3_run.py`): final return (10 deterministic episodes), wall hours and env steps/s "
              "over the whole run, evaluations included (TD3/SAC: 10 episodes every 5k steps, on HalfCheetah as many "
              "env steps as training; SB3 acts through `model.predict`, fastparl through its numpy policy). Settings: the examples' (`perf/training/sb3_models.py`, "
              "as the speed report `python -m perf.training`): networks, batch, learning rates, 10k uniformly random "
              "warm-up steps, one gradient step per env step, TD3's noises and delay, SAC's fixed α = 0.2, PPO's "
              "2048 × 10 × 32 with normalised observations and rewards; evaluated on the same schedule. What still "
              "differs: " + "; ".join(f"{k}: {v}" for k, v in DIFFERENCES.items()) + ". Wall times come from a "
              "shared 2-core machine running two runs at a time (one math-library thread each), so they compare "
              "runs of one period, not machines.",
              "", "Each run: `python -m perf.mujoco command <run>` prints its command; `python -m perf.mujoco status` "
              "what is left.", "", "![mujoco.png](mujoco.png)", ""]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "mujoco.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(OUT, "mujoco.json"), "w") as f:
        json.dump(rows, f, indent=1)
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.2), squeeze=False)
        for ax, (g, sides) in zip(axes[0], groups.items()):
            curves = [c for c in (_curve(r) for r in sides["fastparl"]) if len(c[0])]
            if curves:
                n = min(len(c[0]) for c in curves)
                x = curves[0][0][:n]
                ys = np.stack([c[1][:n] for c in curves])
                ax.plot(x, ys.mean(0), label=f"fastparl ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
                ax.fill_between(x, ys.mean(0) - ys.std(0), ys.mean(0) + ys.std(0), alpha=0.3)
            for r in sides["sb3"]:
                x, y = _curve(r)
                if len(x):
                    ax.plot(x, y, "--", marker="." if len(x) < 3 else None, label=f"SB3 here (seed {r.seed})")
            steps = (sides["fastparl"] or sides["sb3"])[0].steps
            for i, (v, u, src) in enumerate(PUBLISHED.get(g, [])):  # at the budget, side by side
                ax.errorbar([steps * (1 + 0.015 * i)], [v], yerr=[u], fmt="o", ms=3, capsize=2, label=src)
            ax.set_xlim(0, steps * 1.06)
            ax.set_title(g, fontsize=9)
            ax.set_xlabel("env steps")
            ax.legend(fontsize=5)
        save(fig, OUT, "mujoco.png")
    print("\n".join(lines))
    return 0
