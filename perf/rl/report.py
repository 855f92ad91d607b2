"""RL sampling throughput against PARL 2.2.1 and Ray at the same N, plus a serial loop, in one run.

    python -m perf.rl [--quick] [--rounds 3] [--seconds 3] [--actors 1,2] [--tasks ...] [--out DIR]
                      [--parl-python /work/baselines/parl-venv/bin/python] [--ray-python PYTHON]

Target (issue 10 item 6): env steps/s >= 2x PARL's at the same N, on the same sampling work.

Every system runs the same worker class (``perf/rl/workload.py``: ES on HalfCheetah, A2C and IMPALA
samplers on CartPole, A2C on Atari Pong, sized as PARL's example configs) through the same learner
loops (``perf/rl/runner.py``), each system in its own interpreter: PARL needs its own virtual
environment (perf/README.md, "Baselines": ``pip install --no-deps parl==2.2.1`` plus its dependencies,
gymnasium[mujoco] and ale-py, and ``get_ip_address`` patched to return 127.0.0.1).  A system's
turn starts it (PARL: ``xparl start`` on a free port, a cluster of N CPUs; Ray: ``ray.init``;
fastparl: ``connect()``), runs every task at every N and stops it, so no idle cluster runs
beside another system's turn.  Turns rotate over ``--rounds`` rounds; tables show medians.

Columns: env steps/s the learner received; *first batch*: creating N actors (and their envs) until
the learner holds its first batch; *start*: starting the system (cluster, ``ray.init``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable

from perf.common import plots
from perf.common.harness import log, md_table, median, run_report, status

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = ["es-halfcheetah", "a2c-cartpole", "impala-cartpole", "a2c-pong"]
TARGET = 2.0  # fastparl env steps/s / PARL's, same task, same N
DEFAULT_PARL = "/work/baselines/parl-venv/bin/python"


class Config:
    def __init__(self, a: Any):
        self.quick, self.out = a.quick, a.out
        self.rounds = a.rounds or (1 if a.quick else 3)
        self.seconds = a.seconds or (1.0 if a.quick else 3.0)
        self.actors = [int(x) for x in a.actors.split(",")]
        self.tasks = a.tasks.split(",")
        self.python = {"serial": sys.executable, "fastparl": sys.executable}
        ray_py = a.ray_python or sys.executable
        if _can_import(ray_py, "ray"):
            self.python["ray"] = ray_py
        parl_py = a.parl_python or os.environ.get("PARL_PYTHON", DEFAULT_PARL)
        if os.path.exists(parl_py) and _can_import(parl_py, "parl"):
            self.python["parl"] = parl_py
        self.missing = [s for s in ("parl", "ray") if s not in self.python]
        self.scratch = tempfile.mkdtemp(prefix="fastparl-perf-rl-")


def _can_import(python: str, module: str) -> bool:
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
    out = subprocess.run([python, "-c", f"import {module}"], capture_output=True, env=env, timeout=120)
    return out.returncode == 0


def _turn(cfg: Config, system: str, rnd: int) -> dict:
    """One system's turn: its runner in its own interpreter, in a scratch directory (PARL and Ray write there)."""
    work = os.path.join(cfg.scratch, f"{system}-{rnd}")
    os.makedirs(work, exist_ok=True)
    out = os.path.join(work, "result.json")
    actors = "1" if system == "serial" else ",".join(map(str, cfg.actors))
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python", HOME=work)
    env.pop("PYTHONPATH", None)
    cmd = [cfg.python[system], os.path.join(HERE, "runner.py"), "--system", system, "--tasks", ",".join(cfg.tasks),
           "--actors", actors, "--seconds", str(cfg.seconds), "--out", out]
    with open(os.path.join(work, "log.txt"), "w") as logf:
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=logf, stderr=subprocess.STDOUT, timeout=285)
    if not os.path.exists(out):
        with open(os.path.join(work, "log.txt")) as f:
            tail = f.read()[-1500:]
        raise RuntimeError(f"{system} runner exited {proc.returncode} without results:\n{tail}")
    with open(out) as f:
        return json.load(f)


def _sections(rounds: int, systems: list[str]) -> list[tuple[str, Callable[[Any], dict]]]:
    out: list[tuple[str, Callable[[Any], dict]]] = []
    for r in range(rounds):
        order = systems[r % len(systems):] + systems[: r % len(systems)]  # rotate who goes first
        for s in order:
            out.append((f"{s}#{r + 1}", functools.partial(_turn, system=s, rnd=r + 1)))
    return out


def aggregate(R: dict) -> dict[str, Any]:
    """Medians over rounds: {system: {"start_s": x, "tasks": {"task/N": {"steps_per_s", "first_batch_s"}}}}."""
    raw: dict[str, dict[str, Any]] = {}
    for key, val in R.items():
        if "#" not in key or not isinstance(val, dict) or "tasks" not in val:
            continue
        sysd = raw.setdefault(key.split("#")[0], {"start_s": [], "tasks": {}})
        sysd["start_s"].append(val["start_s"])
        for tk, tv in val["tasks"].items():
            if "steps_per_s" in tv:
                d = sysd["tasks"].setdefault(tk, {"steps_per_s": [], "first_batch_s": []})
                d["steps_per_s"].append(tv["steps_per_s"])
                d["first_batch_s"].append(tv["first_batch_s"])
    return {s: {"start_s": median(v["start_s"]), "rounds": len(v["start_s"]),
                "tasks": {k: {m: median(x) for m, x in t.items()} | {"all": t["steps_per_s"]}
                          for k, t in v["tasks"].items()}} for s, v in raw.items()}


def _cell(agg: dict, system: str, key: str, field: str) -> float | None:
    return agg.get(system, {}).get("tasks", {}).get(key, {}).get(field)


def render(R: dict) -> str:
    m, agg, cfg = R["machine"], aggregate(R), R.get("config", {})
    L = ["# RL sampling throughput (`python -m perf.rl`)", "",
         f"{m['date']}, {m['cpu']}, {m['usable_cores']} cores, load {m['loadavg_start']} → {m.get('loadavg_end')}; "
         f"Python {m['python']}{' — quick run' if R['quick'] else ''}.", ""]
    ratios = [(k, f / p) for k in _keys(agg) if (f := _cell(agg, "fastparl", k, "steps_per_s"))
              and (p := _cell(agg, "parl", k, "steps_per_s"))]
    if ratios:
        met = sum(r >= TARGET for _, r in ratios)
        worst = min(ratios, key=lambda kr: kr[1])
        L += [f"**Target** (env steps/s ≥ {TARGET}× PARL's at the same N): {met} of {len(ratios)} task/N cells, "
              f"fastparl/PARL from {worst[1]:.2f}× ({worst[0]}) to {max(r for _, r in ratios):.2f}× — "
              f"{status(met == len(ratios))}.", ""]
        ceilings = [(k, int(k.split("/")[1]) * ser / p) for k in _keys(agg)
                    if (ser := _cell(agg, "serial", f"{k.split('/')[0]}/1", "steps_per_s"))
                    and (p := _cell(agg, "parl", k, "steps_per_s"))]
        if ceilings:
            reachable = [k for k, c in ceilings if c >= TARGET]
            L += [f"*Ceiling*: a system that added nothing to the env work would reach N × the serial loop; "
                  f"that is {min(c for _, c in ceilings):.2f}–{max(c for _, c in ceilings):.2f}× PARL's rate here, "
                  f"so {TARGET}× PARL is within reach in {len(reachable)} of {len(ceilings)} cells "
                  f"({', '.join(reachable) or 'none'}): elsewhere PARL already runs the env work at more than "
                  f"{1 / TARGET:.0%} of the machine's serial speed per actor (IMPALA's serial loop also runs the "
                  "learner's share, so an asynchronous system can pass its ceiling).", ""]
    elif cfg.get("missing"):
        L += [f"PARL not measured ({', '.join(cfg['missing'])} not importable): see perf/README.md, Baselines.", ""]
    systems = [s for s in ("serial", "fastparl", "parl", "ray") if s in agg]
    head = ["task", "N"] + [f"{s} steps/s" for s in systems] + ["fastparl / PARL", "fastparl / Ray",
                                                                  "fastparl / (N × serial)", "ceiling: N × serial / PARL"]
    rows = []
    for k in _keys(agg):
        task, n = k.split("/")
        ser = _cell(agg, "serial", f"{task}/1", "steps_per_s")
        vals = {s: _cell(agg, s, k, "steps_per_s") for s in systems}
        fp = vals.get("fastparl")
        row: list[Any] = [task, n] + [f"{v:,.0f}" if v else "–" for v in vals.values()]
        row += [f"{fp / v:.2f}" if fp and (v := vals.get(s)) else "–" for s in ("parl", "ray")]
        row.append(f"{fp / (int(n) * ser):.2f}" if fp and ser else "–")  # type: ignore[operator]
        row.append(f"{int(n) * ser / p:.2f}" if ser and (p := vals.get("parl")) else "–")
        rows.append(row)
    L += ["## Env steps/s (median over rounds)", ""] + md_table(head, rows) + [""]
    head = ["task", "N"] + [f"{s} first batch (s)" for s in systems if s != "serial"]
    rows = [[*k.split("/")] + [f"{v:.2f}" if (v := _cell(agg, s, k, "first_batch_s")) is not None else "–"
                               for s in systems if s != "serial"] for k in _keys(agg)]
    L += ["## Time to the first learner batch (actors and their envs created → first batch)", ""]
    L += md_table(head, rows) + [""]
    L += ["System start (median): " + ", ".join(f"{s} {agg[s]['start_s']:.2f} s" for s in systems) + ".", ""]
    errs = [f"- {k}: {v['error']}" for k, v in R.items() if isinstance(v, dict) and "error" in v]
    errs += [f"- {k} {tk}: {tv['error']}" for k, v in R.items() if "#" in k and isinstance(v, dict)
             for tk, tv in v.get("tasks", {}).items() if "error" in tv]
    if errs:
        L += ["Errors:", *errs, ""]
    L += [f"{cfg.get('rounds', '?')} round(s) of {cfg.get('seconds', '?')} s per task and N; each system started "
          "and stopped in its own turn, turns rotated; PARL 2.2.1 on its own `xparl` cluster, Ray with "
          "`ray.init(num_cpus=N)`.", f"Took {R['elapsed_s']:.0f} s."]
    return "\n".join(L)


def _keys(agg: dict) -> list[str]:
    keys: list[str] = []
    for s in ("fastparl", "parl", "ray", "serial"):
        for k in agg.get(s, {}).get("tasks", {}):
            if k not in keys and not (s == "serial" and any(k == x for x in keys)):
                keys.append(k)
    order = {t: i for i, t in enumerate(TASKS)}
    return sorted(keys, key=lambda k: (order.get(k.split("/")[0], 99), int(k.split("/")[1])))


def make_plot(R: dict, out_dir: str) -> None:
    agg = aggregate(R)
    if not agg:
        return
    plt = plots.pyplot()
    if plt is None:
        return
    tasks = [t for t in TASKS if any(k.startswith(t + "/") for k in _keys(agg))]
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4 * (len(tasks) + 1), 4))
    styles = {"fastparl": "C0-o", "parl": "C3-s", "ray": "C2-^"}
    for ax, task in zip(axes, tasks):
        ns = sorted({int(k.split("/")[1]) for k in _keys(agg) if k.startswith(task + "/")})
        ser = _cell(agg, "serial", f"{task}/1", "steps_per_s")
        if ser:
            ax.plot(ns, [n * ser for n in ns], "k:", label="N × serial loop")
        for s, st in styles.items():
            pts = [(n, v) for n in ns if (v := _cell(agg, s, f"{task}/{n}", "steps_per_s"))]
            if pts:
                ax.plot(*zip(*pts), st, label=s)
        ax.set_title(task)
        ax.set_xlabel("N actors")
        ax.set_xticks(ns)
        ax.set_ylabel("env steps/s")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    ax = axes[-1]
    systems = [s for s in styles if s in agg]
    x = range(len(systems))
    first = [median([v["first_batch_s"] for k, v in agg[s]["tasks"].items()]) for s in systems]
    ax.bar(x, [agg[s]["start_s"] for s in systems], label="system start", color="0.6")
    ax.bar(x, first, bottom=[agg[s]["start_s"] for s in systems], label="actors → first batch (median task)",
           color="C0")
    ax.set_xticks(list(x), systems)
    ax.set_ylabel("seconds")
    ax.set_title("time to the first learner batch")
    ax.legend(fontsize=7)
    plots.save(fig, out_dir, "rl.png")


def _add_args(p: Any) -> None:
    p.add_argument("--rounds", type=int, default=0, help="rounds of turns (default 3; --quick: 1)")
    p.add_argument("--seconds", type=float, default=0.0, help="measuring time per task and N (default 3)")
    p.add_argument("--actors", default="1,2", help="the N to run, comma-separated")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--parl-python", default="", help=f"PARL's interpreter (default $PARL_PYTHON or {DEFAULT_PARL})")
    p.add_argument("--ray-python", default="", help="an interpreter that imports ray (default this one)")


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    state: dict[str, Any] = {}

    def make_config(a: Any) -> Config:
        cfg = Config(a)
        state["cfg"] = cfg
        systems: list[str] = [s for s in ("fastparl", "parl", "ray", "serial") if s in cfg.python]
        state["sections"][:] = _sections(cfg.rounds, systems)
        log(f"systems: {', '.join(systems)}; not installed: {', '.join(cfg.missing) or 'none'}")
        return cfg

    def render_with_config(R: dict) -> str:
        cfg = state["cfg"]
        R["config"] = {"rounds": cfg.rounds, "seconds": cfg.seconds, "actors": cfg.actors, "tasks": cfg.tasks,
                       "missing": cfg.missing, "python": cfg.python}
        return render(R)

    state["sections"] = _sections(3, ["fastparl", "parl", "ray", "serial"])  # names for --help; replaced
    try:
        R = run_report("rl", state["sections"], render_with_config, make_config, argv, add_args=_add_args)
        make_plot(R, state["cfg"].out)
    finally:
        if "cfg" in state:
            shutil.rmtree(state["cfg"].scratch, ignore_errors=True)
    return R

