"""Wall time of full training budgets: the examples' env steps/s with ``--actors`` / ``--learners``, extrapolated.

    python -m perf.budgets [--rounds 3] [--only sac,ppo,step] [--quick] [--out DIR]

``--quick`` (a smoke test of the report, not a measurement): one round; SAC on Pendulum-v1 with 64-64 networks and
batch 64 (500 steps), PPO for 2 updates of 512-step rollouts, the step section for 2 rounds.

Each cell runs the example's own ``train.py`` as a user would (a fresh interpreter, default threads), for a short
budget, and reads the whole loop's rate off its ``progress.csv`` (``env_steps`` and ``time_elapsed`` of its rows)
over a window that leaves out start-up (imports, actor and learner processes) and the random warm-up:

* SAC on HalfCheetah-v5 (PARL's 256-256, batch 256, one gradient step per env step): ``--warmup-steps 1000``,
  the window from env step 2000 to the end (episode rows; no evaluation inside the window);
* PPO on Hopper-v5 (the continuous preset: 1 env x 2048 steps, 10 epochs of 32 minibatches): the window from the
  end of the first update to the end of the last.

The ``step`` section times SAC's gradient step alone (HalfCheetah's sizes, 256-256), in this process on 256, 128,
64 and 32 rows, and on 2 learners (``LearnerGroup``, gloo) on 256 rows split 128 + 128: what a step of k learners
costs at best is the step on ``256 / k`` rows plus the all-reduces, and that is where ``--learners k`` can pay.

The cells take turns within each round (drift in the machine's load hits them alike); the table gives the median
over rounds and each round's rate.  The wall time of a budget of N env steps is N / rate: an extrapolation that
assumes the rate holds (the replay memory's size does not change the cost of a step) and leaves out evaluations
(10 deterministic episodes every 5000 steps for SAC: a few seconds each) and the warm-up (faster than learning).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from perf.common.harness import OUT_HELP, SCRATCH, log, machine_info, md_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUDGETS = (1_000_000, 3_000_000)

# section -> (title, example, env, [(label, flags)], run length)
SAC_CELLS = [("--actors 0 --learners 1 (PARL's loop)", []), ("--actors 1", ["--actors", "1"]),
             ("--learners 2", ["--learners", "2"]), ("--actors 1 --learners 2", ["--actors", "1", "--learners", "2"])]
PPO_CELLS = [("--actors 0 --learners 1", []), ("--actors 1", ["--actors", "1"]), ("--learners 2", ["--learners", "2"]),
             ("--actors 1 --learners 2", ["--actors", "1", "--learners", "2"])]


class Config:
    def __init__(self, a: argparse.Namespace) -> None:
        self.rounds = 1 if a.quick else a.rounds
        # SAC: warm-up, steps skipped after it, window; PPO: updates (the first one is skipped)
        # (HalfCheetah's episodes are 1000 steps: the serial loop logs a row every 1000 env steps; Pendulum's 200)
        self.sac_warmup, self.sac_skip, self.sac_window = (100, 100, 300) if a.quick else (1_000, 1_000, a.sac_window)
        self.sac_env = ["--env", "Pendulum-v1", "--hidden", "64", "--batch-size", "64"] if a.quick else [
            "--env", "HalfCheetah-v5"]
        self.ppo_updates = 2 if a.quick else a.ppo_updates
        self.ppo_rollout = ["--num-steps", "512", "--num-minibatches", "8"] if a.quick else []  # (64-row minibatches)
        self.ppo_steps = 512 if a.quick else 2048
        self.quick, self.step_rounds = bool(a.quick), 2 if a.quick else a.step_rounds
        self.python = a.python


def _rows(path: str) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _rate(points: list[tuple[int, float]]) -> tuple[float, int, float]:
    """(steps/s, steps, seconds) between the first and the last ``(env_steps, time_elapsed)`` point."""
    (s0, t0), (s1, t1) = points[0], points[-1]
    if s1 <= s0 or t1 <= t0:
        raise RuntimeError(f"no window in {points}")
    return (s1 - s0) / (t1 - t0), s1 - s0, t1 - t0


def sac_cell(cfg: Config, flags: list[str], logdir: str) -> tuple[list[str], dict[str, Any]]:
    total = cfg.sac_warmup + cfg.sac_skip + cfg.sac_window
    cmd = ["examples/SAC/train.py", *cfg.sac_env, "--seed", "0", "--total-steps", str(total),
           "--warmup-steps", str(cfg.sac_warmup), "--eval-every", str(10**9), "--eval-episodes", "1",
           "--no-tensorboard", "--logdir", logdir, *flags]
    return cmd, {"from": cfg.sac_warmup + cfg.sac_skip, "to": total, "episode_rows": True}


def ppo_cell(cfg: Config, flags: list[str], logdir: str) -> tuple[list[str], dict[str, Any]]:
    n = cfg.ppo_steps
    cmd = ["examples/PPO/train.py", "--env", "Hopper-v5", "--seed", "0", "--total-steps", str(n * cfg.ppo_updates),
           *cfg.ppo_rollout, "--eval-episodes", "1", "--no-tensorboard", "--logdir", logdir, *flags]
    return cmd, {"from": n, "to": n * cfg.ppo_updates, "episode_rows": False}


def run_cell(cfg: Config, make: Any, flags: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="perf-budgets-") as logdir:
        cmd, window = make(cfg, flags, logdir)
        t = time.time()
        out = subprocess.run([cfg.python, *cmd], cwd=REPO, capture_output=True, text=True, timeout=3600)
        if out.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
        points = []
        for row in _rows(os.path.join(logdir, "progress.csv")):
            step = int(row["env_steps"])
            if window["episode_rows"] and not row.get("episode_return"):
                continue  # SAC: evaluation rows include the evaluation's time
            if window["from"] <= step <= window["to"]:
                points.append((step, float(row["time_elapsed"])))
        rate, steps, seconds = _rate(points)
    return {"steps_per_s": rate, "window_steps": steps, "window_s": seconds, "run_s": time.time() - t,
            "command": " ".join(c for c in cmd if c != logdir).replace(" --logdir", "")}


def measure(cfg: Config, name: str, make: Any, cells: list[tuple[str, list[str]]]) -> dict[str, Any]:
    rates: dict[str, list[float]] = {label: [] for label, _ in cells}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in cells}
    for r in range(cfg.rounds):
        for label, flags in cells:
            log(f"{name} round {r + 1}/{cfg.rounds}: {label}")
            res = run_cell(cfg, make, flags)
            rates[label].append(res["steps_per_s"])
            runs[label].append(res)
            log(f"  {res['steps_per_s']:.1f} env steps/s over {res['window_steps']} steps ({res['run_s']:.0f} s run)")
    return {"rates": rates, "runs": runs}


STEP_ROWS = (256, 128, 64, 32)


def step_section(cfg: Config) -> dict[str, Any]:
    """ms per SAC gradient step by rows in this process, and on 2 learners; interleaved rounds."""
    import importlib.util

    import numpy as np

    sys.path[:0] = [os.path.join(REPO, "examples", "SAC"), os.path.join(REPO, "examples")]
    spec = importlib.util.spec_from_file_location("perf_budgets_sac", os.path.join(REPO, "examples", "SAC", "train.py"))
    sac = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = sac
    spec.loader.exec_module(sac)
    import _offpolicy_parallel as par

    rng = np.random.default_rng(0)
    agent = sac.make_agent(17, 6, sac.Args())
    local = par.OffPolicyReplica(agent)
    group = par._GroupLearner(sac.make_agent(17, 6, sac.Args()), sac.make_agent, 17, 6, sac.Args(learners=2))
    steps = 3 if cfg.quick else 10

    def block(rows: int) -> tuple[Any, ...]:
        """``steps`` minibatches of ``rows`` random transitions and SAC's draws for them, ``(steps, rows, ...)``."""
        f = lambda *shape: rng.normal(size=(steps, rows, *shape)).astype(np.float32)  # noqa: E731
        return (f(17), np.tanh(f(6)), f(), f(17), rng.random((steps, rows)) < 0.01), (f(6), f(6))

    blocks = {n: block(n) for n in STEP_ROWS}
    cells: dict[str, Any] = {f"1 learner, {n} rows": (lambda b=blocks[n]: local.learn_block(*b[0], *b[1]))
                             for n in STEP_ROWS}
    cells["2 learners (gloo), 256 rows = 128 + 128"] = lambda b=blocks[256]: group.steps(*b)
    ms: dict[str, list[float]] = {k: [] for k in cells}
    try:
        for fn in cells.values():
            fn()  # warm-up
        for _ in range(cfg.step_rounds):
            for k, fn in cells.items():
                t = time.perf_counter()
                fn()
                ms[k].append((time.perf_counter() - t) / steps * 1e3)
    finally:
        group.close()
    return {"ms": ms, "steps_per_call": steps}


def _hours(steps: int, rate: float) -> str:
    h = steps / rate / 3600
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} days"


def render(R: dict[str, Any]) -> str:
    m = R["machine"]
    lines = ["# Wall time of full budgets: SAC and PPO with `--actors` / `--learners` (`python -m perf.budgets`)", "",
             f"{m['date']}, {m['cpu']}, {m['usable_cores']} cores, {m['memory_gb']} GB, python {m['python']}; "
             f"load average {m['loadavg_start'][0]:.2f} at the start, {m['loadavg_end'][0]:.2f} at the end.  "
             "**A shared VM**: other jobs ran throughout (here: two long training runs at nice 19, and at times "
             "other sessions' tests and benchmarks at normal priority), so the cells had the cores at a higher "
             "priority than some of them but never to themselves; rounds vary by up to 2x, read the medians and "
             "the ratios, not the digits.", "",
             "*Measured*: env steps/s of the whole training loop over a window of a real run (the example's own "
             "`train.py`, default threads), median over rounds (each round's rate in brackets).  *Extrapolated*: "
             "the wall time of 1M and 3M env steps at that rate (budget / rate; evaluations and the warm-up left "
             "out).", ""]
    sac_title = ("SAC, Pendulum-v1 (--quick: 64-64, batch 64)" if R.get("quick") else
                 "SAC, HalfCheetah-v5 (256-256, batch 256, 1 gradient step per env step)")
    for key, title in (("sac", sac_title),
                       ("ppo", "PPO, Hopper-v5 (continuous preset: 1 env x 2048 steps, 10 epochs x 32 minibatches)")):
        sec = R.get(key)
        if not sec:
            continue
        if "error" in sec:
            lines += [f"## {title}", "", f"**failed:** `{sec['error']}`", ""]
            continue
        rates = sec["rates"]
        base = statistics.median(next(iter(rates.values())))
        rows = []
        for label, rs in rates.items():
            med = statistics.median(rs)
            rows.append([f"`{label}`", f"**{med:,.1f}** ({', '.join(f'{x:,.1f}' for x in rs)})", f"{med / base:.2f}x",
                         *(_hours(b, med) for b in BUDGETS)])
        lines += [f"## {title}", ""]
        lines += md_table(["flags", "env steps/s, measured", "x first row", "1M steps (extrapolated)",
                           "3M steps (extrapolated)"], rows)
        first = next(iter(sec["runs"].values()))[0]
        lines += ["", f"Window: {first['window_steps']} env steps a run.  Command of the first row: "
                  f"`python {first['command']}`", ""]
    sec = R.get("step")
    if sec and "error" in sec:
        lines += ["## SAC's gradient step alone", "", f"**failed:** `{sec['error']}`", ""]
    elif sec:
        ms = sec["ms"]
        base = statistics.median(ms["1 learner, 256 rows"])
        lines += ["## SAC's gradient step alone (HalfCheetah sizes, 256-256): where `--learners k` can pay", "",
                  f"ms per step (critic, actor, target update), {sec['steps_per_call']} steps a call, median and best "
                  f"of {len(ms['1 learner, 256 rows'])} interleaved rounds, in this process or on 2 learner processes:", ""]
        lines += md_table(["learner", "ms / step, measured (median)", "best", "x 1 learner, 256 rows"],
                          [[k, f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{base / statistics.median(v):.2f}x"]
                           for k, v in ms.items()])
        lines += ["", "A step of k learners costs at least the step on 256 / k rows plus the gradient all-reduces "
                  "(critic and actor, about 220k floats), and needs k + 1 free cores (the learners and the driver)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m perf.budgets", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round of short windows: a smoke test")
    ap.add_argument("--out", default=SCRATCH, help=OUT_HELP)
    ap.add_argument("--only", default="", help="comma-separated sections: sac,ppo,step")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; the cells take turns in each")
    ap.add_argument("--sac-window", type=int, default=3_000, help="SAC env steps measured a run (after warm-up + 1000)")
    ap.add_argument("--ppo-updates", type=int, default=6, help="PPO updates a run (2048 steps each; the first skipped)")
    ap.add_argument("--step-rounds", type=int, default=10, help="rounds of the step section")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs the examples")
    ap.add_argument("--render", default="", help="only write budgets.md again from this budgets.json")
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            R = json.load(f)
        with open(os.path.join(a.out, "budgets.md"), "w") as f:
            f.write(render(R) + "\n")
        return R
    cfg = Config(a)
    only = {s for s in a.only.split(",") if s}
    R: dict[str, Any] = {"machine": machine_info(), "argv": list(sys.argv[1:] if argv is None else argv),
                         "quick": bool(a.quick)}
    log(f"perf.budgets on {R['machine']['cpu']} ({R['machine']['usable_cores']} cores), "
        f"load {R['machine']['loadavg_start']}")
    sections = {"sac": lambda: measure(cfg, "sac", sac_cell, SAC_CELLS),
                "ppo": lambda: measure(cfg, "ppo", ppo_cell, PPO_CELLS), "step": lambda: step_section(cfg)}
    for key, run in sections.items():
        if only and key not in only:
            continue
        log(f"{key} ...")
        try:
            R[key] = run()
        except Exception as e:  # noqa: BLE001 - one failing section must not lose the other
            import traceback

            traceback.print_exc()
            R[key] = {"error": f"{type(e).__name__}: {e}"}
    R["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(a.out, exist_ok=True)
    md = render(R)
    with open(os.path.join(a.out, "budgets.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(a.out, "budgets.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    print()
    print(md)
    return R
