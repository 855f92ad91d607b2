"""Training speed against Stable-Baselines3 on the same machine, in one run (issue 19 part 1).

    python -m perf.training [--quick] [--rounds 3] [--algos dqn,ppo,td3,sac,ddpg] [--window N]
                            [--sb3-python /tmp/sb3venv/bin/python] [--out DIR]

For DQN (CartPole-v1), PPO (Hopper-v5), TD3, SAC and DDPG (HalfCheetah-v5): the whole training loop's env
steps/s and the learner's gradient steps/s, fastparl's examples (``examples/<ALGO>/train.py``, their own
``train(args)``) beside SB3's ``model.learn`` with the same sizes, batch and update-to-data ratio
(``perf/training/runner.py`` says how the loops are timed without changing them).  Every turn is one
system and one algorithm in its own interpreter, one thread each; for each algorithm the two systems take
turns, who goes first alternating by round; tables show medians over rounds.  Round 1 also profiles each
system's update step (``perf/training/profiling.py``): the framework's kernels against Python.

Targets (issue 19): fastparl ≥ 1.5× SB3 for DQN and PPO, ≥ 1.2× for TD3, SAC and DDPG, in env steps/s of
the whole loop; the learner's gradient steps/s ratio is shown beside it against the same bar.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Callable

from perf.common.harness import REPO, fmt, log, md_table, median, run_report, status

HERE = os.path.dirname(os.path.abspath(__file__))
ALGOS = ["dqn", "ppo", "td3", "sac", "ddpg"]
SYSTEMS = ["fastparl", "sb3"]
ENVS = {"dqn": "CartPole-v1", "ppo": "Hopper-v5", "td3": "HalfCheetah-v5", "sac": "HalfCheetah-v5",
        "ddpg": "HalfCheetah-v5"}
TARGETS = {"dqn": 1.5, "ppo": 1.5, "td3": 1.2, "sac": 1.2, "ddpg": 1.2}  # fastparl / SB3, env steps/s
DEFAULT_SB3 = "/tmp/sb3venv/bin/python"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def windows(quick: bool, window: int) -> dict[str, dict[str, int]]:
    """Per algorithm: random warm-up steps, env steps skipped after it, the window, gradient steps profiled."""
    if quick:
        off = dict(warmup=300, skip=50, window=window or 150, profile=50)
        return {"dqn": dict(warmup=1000, skip=1048, window=256, profile=128),  # whole 256-step learn blocks
                "ppo": dict(warmup=0, skip=512, window=512, profile=1)} | {a: off for a in ("td3", "sac", "ddpg")}
    off = dict(warmup=2000, skip=300, window=window or 3000, profile=300)
    return {"dqn": dict(warmup=1000, skip=1048, window=256 * 24, profile=128),  # 24 blocks: 3072 gradient steps
            "ppo": dict(warmup=0, skip=2048, window=3 * 2048, profile=1)} | {a: off for a in ("td3", "sac", "ddpg")}


class Config:
    def __init__(self, a: Any):
        self.quick, self.out = a.quick, a.out
        self.rounds = a.rounds or (1 if a.quick else 3)
        self.algos = [x for x in a.algos.split(",") if x]
        self.windows = windows(a.quick, a.window)
        self.python = {"fastparl": sys.executable, "sb3": a.sb3_python or os.environ.get("SB3_PYTHON", DEFAULT_SB3)}
        self.scratch = tempfile.mkdtemp(prefix="fastparl-perf-training-")


def _turn(cfg: Config, algo: str, system: str, rnd: int) -> dict:
    """One system's run of one algorithm, in its own interpreter; round 1 also profiles."""
    w = cfg.windows[algo]
    out = os.path.join(cfg.scratch, f"{algo}-{system}-{rnd}.json")
    cmd = [cfg.python[system], os.path.join(HERE, "runner.py"), "--system", system, "--algo", algo,
           "--warmup", str(w["warmup"]), "--skip", str(w["skip"]), "--window", str(w["window"]),
           "--profile", str(w["profile"] if rnd == 1 else 0), "--out", out] + (["--quick"] if cfg.quick else [])
    env = dict(os.environ, **ONE_THREAD)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, cwd=cfg.scratch, env=env, capture_output=True, text=True, timeout=280)
    if not os.path.exists(out):
        raise RuntimeError(f"{system} {algo} exited {proc.returncode} without results:\n{proc.stderr[-1500:]}")
    with open(out) as f:
        res = json.load(f)
    log(f"  {system} {algo}: {res['env_steps_per_s']:,.0f} env steps/s, {res['updates_per_s']:,.0f} updates/s")
    return res


def _sections(rounds: int, algos: list[str]) -> list[tuple[str, Callable[[Any], dict]]]:
    out: list[tuple[str, Callable[[Any], dict]]] = []
    for r in range(1, rounds + 1):
        for algo in algos:
            for system in (SYSTEMS if r % 2 else SYSTEMS[::-1]):  # who goes first alternates by round
                out.append((f"{algo}/{system}#{r}", functools.partial(_turn, algo=algo, system=system, rnd=r)))
    return out


def aggregate(R: dict) -> dict[str, dict[str, dict[str, Any]]]:
    """``{algo: {system: {"env_steps_per_s": median, "updates_per_s": median, "all": [...], "profile": ...}}}``."""
    raw: dict[str, dict[str, list[dict]]] = {}
    for key, val in R.items():
        if "#" in key and isinstance(val, dict) and "env_steps_per_s" in val:
            algo, system = key.split("#")[0].split("/")
            raw.setdefault(algo, {}).setdefault(system, []).append(val)
    agg: dict[str, dict[str, dict[str, Any]]] = {}
    for algo, by_sys in raw.items():
        for system, runs in by_sys.items():
            d = {m: median([r[m] for r in runs]) for m in ("env_steps_per_s", "updates_per_s", "learner_share")}
            d["all_env_steps_per_s"] = [round(r["env_steps_per_s"], 1) for r in runs]
            d["all_updates_per_s"] = [round(r["updates_per_s"], 1) for r in runs]
            d["profile"] = next((r["profile"] for r in runs if "profile" in r), None)
            d["settings"], d["threads"] = runs[0].get("settings"), max(r.get("threads", 0) for r in runs)
            agg.setdefault(algo, {})[system] = d
    return agg


def _ratio(agg: dict, algo: str, metric: str) -> float | None:
    fp, sb = (agg.get(algo, {}).get(s, {}).get(metric) for s in SYSTEMS)
    return fp / sb if fp and sb else None


def _shares(p: dict | None) -> str:
    if not p:
        return "–"
    s = p["shares"]
    return (f"{p['kernel_share']:.0%} (bwd {s['backward']:.0%}, fwd {s['forward_ops']:.0%}, opt {s['optimizer']:.0%})"
            f" / {s['python']:.0%}")


def render(R: dict) -> str:
    m, agg, cfg = R["machine"], aggregate(R), R.get("config", {})
    L = ["# Training speed against Stable-Baselines3 (`python -m perf.training`)", "",
         f"{m['date']}, {m['cpu']}, {m['usable_cores']} cores, load {m['loadavg_start']} → {m.get('loadavg_end')} "
         f"(a machine **shared** with other engineers' jobs while this ran: absolute rates move with their load, "
         f"compare the ratios); Python {m['python']}{' — quick run' if R['quick'] else ''}.", ""]
    head = ["algorithm", "env", "fastparl env steps/s", "SB3 env steps/s", "ratio", "target", "status",
            "fastparl updates/s", "SB3 updates/s", "ratio", "status", "fastparl: kernels (bwd, fwd, opt) / Python",
            "SB3: kernels / Python"]
    rows = []
    for algo in [a for a in ALGOS if a in agg]:
        fp, sb = agg[algo].get("fastparl", {}), agg[algo].get("sb3", {})
        loop, learn, tgt = _ratio(agg, algo, "env_steps_per_s"), _ratio(agg, algo, "updates_per_s"), TARGETS[algo]
        rows.append([algo.upper(), ENVS[algo], fmt(fp.get("env_steps_per_s")), fmt(sb.get("env_steps_per_s")),
                     f"{loop:.2f}×" if loop else "–", f"≥ {tgt}×", status(loop >= tgt if loop else None),
                     fmt(fp.get("updates_per_s")), fmt(sb.get("updates_per_s")), f"{learn:.2f}×" if learn else "–",
                     status(learn >= tgt if learn else None), _shares(fp.get("profile")), _shares(sb.get("profile"))])
    met = [r for r in rows if r[6] == "met"]
    L += [f"**Targets** (whole training loop, env steps/s, fastparl / SB3): {len(met)} of {len(rows)} met.", ""]
    L += md_table(head, rows) + [""]
    L += _compute_bound(agg)
    L += ["*env steps/s*: the whole training loop (env step, acting, replay, learning) over the window; "
          "*updates/s*: gradient steps per second of time inside the learner (fastparl: `agent.learn` plus "
          "`ReplayMemory.sample_batch`; SB3: `model.train`, which samples its own batch); medians over "
          f"{cfg.get('rounds', '?')} round(s). *kernels / Python*: share of the profiled update step (round 1, "
          "cProfile, `perf/training/profiling.py`) spent inside the framework's ops (backward = `run_backward`; "
          "fwd = the other ops; opt = ops called by the optimizer) against everything else (framework Python, "
          "algorithm, NumPy); cProfile's per-call cost inflates the Python share.", ""]
    L += ["## Per round, learner share and profile", ""]
    head = ["algorithm", "system", "env steps/s (rounds)", "updates/s (rounds)", "learner share of the loop",
            "profiled ms / update", "top functions (share of profiled time)"]
    rows = []
    for algo in [a for a in ALGOS if a in agg]:
        for system in SYSTEMS:
            d = agg[algo].get(system)
            if not d:
                continue
            p = d.get("profile") or {}
            top = "; ".join(f"`{n[-60:]}` {s:.0%}" for n, s, _ in p.get("top", [])[:3]) or "–"
            rows.append([algo.upper(), system, ", ".join(f"{x:,.0f}" for x in d["all_env_steps_per_s"]),
                         ", ".join(f"{x:,.0f}" for x in d["all_updates_per_s"]), f"{d['learner_share']:.0%}",
                         fmt(p.get("profiled_ms_per_grad")), top])
    L += md_table(head, rows) + [""]
    L += ["## Settings (the same for both systems)", ""] + SETTINGS + [""]
    wins = cfg.get("windows", {})
    if wins:
        L += ["Windows (env steps): " + "; ".join(
            f"{a.upper()} warm-up {w['warmup']}, then {w['skip']} skipped, then {w['window']} timed"
            for a, w in wins.items() if a in agg) + ".", ""]
    errs = [f"- {k}: {v['error']}" for k, v in R.items() if isinstance(v, dict) and "error" in v]
    if errs:
        L += ["Errors:", *errs, ""]
    L += [f"Interpreters: {cfg.get('python')}. Took {R['elapsed_s']:.0f} s."]
    return "\n".join(L)


def _compute_bound(agg: dict) -> list[str]:
    """How far removing all Python from fastparl's update step could take it, the kernels as they are."""
    rows = []
    for algo in [a for a in ALGOS if a in agg]:
        fp, sb = agg[algo].get("fastparl", {}), agg[algo].get("sb3", {})
        p = fp.get("profile")
        if not (p and fp.get("updates_per_s") and sb.get("updates_per_s")):
            continue
        kernel_ms = p["profiled_ms_per_grad"] * p["kernel_share"]
        ceiling = 1e3 / kernel_ms  # 1 / the kernels' time per update
        q = sb.get("profile")
        sb_ms = fmt(q["profiled_ms_per_grad"] * q["kernel_share"]) if q else "–"
        rows.append([algo.upper(), f"{p['kernel_share']:.0%}", f"{fp['learner_share']:.0%}", fmt(kernel_ms), sb_ms,
                     fmt(ceiling), f"{ceiling / sb['updates_per_s']:.2f}×", f"≥ {TARGETS[algo]}×"])
    if not rows:
        return []
    return ["**How compute-bound.** *kernels*: the share of fastparl's profiled update step inside paddle's ops; "
            "*learner share*: the share of the whole loop's time inside the learner; *kernel ms / update*: time inside the ops per gradient step in each system's profile (paddle's against torch's kernels on the same shapes); *ceiling*: fastparl's updates/s "
            "if everything but the kernels took no time (1 / the kernels' seconds per update in the profile; "
            "cProfile adds little to a C call), against SB3's updates/s: where that is below the target, removing "
            "Python overhead alone cannot reach it, and the kernels themselves (or fewer of them) must get faster. "
            "The profile ran in round 1 only, under that moment's load.", ""] + md_table(
        ["algorithm", "kernels", "learner share", "fastparl kernel ms / update", "SB3 kernel ms / update",
         "ceiling updates/s", "ceiling / SB3", "target"], rows) + [""]


SETTINGS = [
    "- One thread each: `OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1` in every runner's environment; "
    "fastparl calls `paddle.base.core.set_num_threads(1)` (paddle 3 has no `paddle.set_num_threads`; this sets its "
    "CPU math library's threads), SB3 `torch.set_num_threads(1)` and `torch.set_num_interop_threads(1)`; "
    "both on the CPU (`paddle.set_device('cpu')`, `device='cpu'`).",
    "- DQN, CartPole-v1: the example's settings on both sides: Q network 128-128 ReLU, batch 256, Adam 1e-3, "
    "replay 200k, 1000 warm-up steps, then 128 gradient steps every 256 env steps (update-to-data 0.5, as the "
    "example; not 1), target sync every 128 gradient steps (SB3: `target_update_interval=256` env steps), "
    "ε from 1 to 0.04 over 16% of 50k steps. Not removed: SB3 uses the Huber loss and clips the gradient norm at "
    "10, fastparl's DQN (PARL's) the squared error and no clipping.",
    "- PPO, Hopper-v5: the example's continuous preset: separate actor and critic 64-64 tanh, 1 env × 2048 steps, "
    "10 epochs of 32 minibatches of 64, Adam 3e-4 decayed linearly, clip 0.2, clipped value loss (SB3 "
    "`clip_range_vf=0.2`), gradient norm 0.5, GAE 0.95, γ 0.99, normalised observations and rewards (SB3 "
    "`VecNormalize`). Not removed: fastparl clips each gradient tensor's norm (PARL's `ClipGradByNorm`), SB3 the "
    "global norm. `--quick`: 512 steps, 2 epochs of 8 minibatches.",
    "- TD3, SAC, DDPG, HalfCheetah-v5: actor and critic(s) 256-256, batch 256, replay 1M, the same uniformly random "
    "warm-up, then 1 gradient step per env step; γ 0.99, τ 0.005; TD3: Adam 3e-4, exploration noise 0.1, policy "
    "delay 2, target noise 0.2 clipped at 0.5; SAC: Adam 3e-4, fixed α = 0.2; DDPG: Adam 1e-3, exploration noise "
    "0.1 (SB3's DDPG is its TD3 with one critic and no delay or target noise, as fastparl's). Warm-up shorter than "
    "the examples' 10k to keep the run short (the same for both; speed after it does not depend on it).",
    "- Neither loop is changed: fastparl runs `examples/<ALGO>/train.py`'s `train(args)`, SB3 `model.learn`; the "
    "runner wraps the env's step and the learner calls to time them (`perf/training/runner.py`). Evaluation is "
    "pushed past the window (fastparl `eval_every=10**9`; SB3 learns without an eval callback).",
]


def _add_args(p: Any) -> None:
    p.add_argument("--rounds", type=int, default=0, help="rounds of turns (default 3; --quick: 1)")
    p.add_argument("--algos", default=",".join(ALGOS))
    p.add_argument("--window", type=int, default=0, help="timed env steps of the off-policy runs (default 3000)")
    p.add_argument("--sb3-python", default="", help=f"SB3's interpreter (default $SB3_PYTHON or {DEFAULT_SB3})")


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    state: dict[str, Any] = {"sections": _sections(3, ALGOS)}  # names for --help; replaced

    def make_config(a: Any) -> Config:
        cfg = Config(a)
        state["cfg"] = cfg
        state["sections"][:] = _sections(cfg.rounds, cfg.algos)
        if not os.path.exists(cfg.python["sb3"]):
            raise SystemExit(f"SB3's interpreter {cfg.python['sb3']} does not exist: make a venv with "
                             "stable-baselines3, torch (CPU) and gymnasium[mujoco], and pass --sb3-python")
        return cfg

    def render_with_config(R: dict) -> str:
        cfg = state["cfg"]
        R["config"] = {"rounds": cfg.rounds, "algos": cfg.algos, "windows": cfg.windows, "python": cfg.python}
        return render(R)

    try:
        return run_report("training", state["sections"], render_with_config, make_config, argv, add_args=_add_args,
                          description=__doc__.split("\n")[0])
    finally:
        if "cfg" in state:
            import shutil

            shutil.rmtree(state["cfg"].scratch, ignore_errors=True)


__all__ = ["main", "aggregate", "REPO"]
