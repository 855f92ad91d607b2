"""The ``ecosystem`` section of ``perf.envs``: fastparl's vector env against what gymnasium, Stable-Baselines3 and
EnvPool users step their envs with, per env (CartPole-v1, HalfCheetah-v5, an Atari game) and size (8, 64 envs).

Every system steps the same envs with the same driver-side policy (a NumPy MLP on the observations; Atari frames
subsampled 4x per side as perf.rl does), lockstep unless it is built otherwise (fastparl's double-buffered
``RemoteVectorEnv``; EnvPool's async mode).  Beside them, the *ceiling*: ``cores x`` the serial env loop (one env
stepped in this process with random actions, no policy), measured in the same run — no system using this machine's
cores can step envs faster.  Targets (issue 18): fastparl >= 0.9 x the ceiling, and >= 2 x gymnasium's
``AsyncVectorEnv`` and SB3's ``SubprocVecEnv`` for the same number of envs where the ceiling leaves that room
(ceiling / theirs >= 2).  Systems that are not installed are skipped with the reason (SB3 and EnvPool are optional:
``pip install stable-baselines3 envpool``).

Each system is profiled as it runs (:mod:`perf.envs.profile`): the driver's wall in the policy call and in step
(for fastparl's envs, waiting for the actors apart from the driver's own work), the CPU of the driver and of the
workers the system started, the other processes' CPU; beside the ceiling, two bounds that include the policy
(lockstep and overlap), and for fastparl's target row the factors of rate / ceiling (cores kept busy x the env's
share of the serial work x work per CPU second) with what each costs in µs per env step.

EnvPool's ids and observations differ from gymnasium's for Atari (its own preprocessing: 84x84 grey, 4-frame stack,
episodic life off here, noop starts) and it runs its envs in C++ threads; the MuJoCo and classic-control ids match.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from perf.common.harness import SECTION_TIMEOUT_S, log, md_table, median
from perf.envs.profile import (QUIET, Profile, Workers, blas_threads, bounds, factors, policy_seconds, snapshot,
                               summarize)
from perf.rl.workload import features as _features, make_env

ATARI = "ALE/Pong-v5"
Act = Callable[[Any], np.ndarray]  # a policy: observations -> actions (maybe timed, see profile.Profile)


def _make_gym(env_id: str) -> Callable[[], gym.Env]:
    return functools.partial(make_env, env_id)  # perf.rl's envs: Atari preprocessed as there


class _Policy:
    """obs -> 64 -> 64 -> actions (argmax for discrete spaces, tanh for boxes), evaluated in the driver."""

    def __init__(self, obs_space: gym.Space, act_space: gym.Space):
        rng = np.random.default_rng(0)
        n_in = _features(np.zeros((1, *obs_space.shape), obs_space.dtype)).shape[1]
        self.discrete = isinstance(act_space, gym.spaces.Discrete)
        n_out = int(act_space.n) if self.discrete else int(np.prod(act_space.shape))
        self.shape = tuple(act_space.shape or ())
        self.w = [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32)
                  for i, o in ((n_in, 64), (64, 64), (64, n_out))]

    def __call__(self, obs: Any) -> np.ndarray:
        h = np.tanh(_features(obs) @ self.w[0])
        h = np.tanh(h @ self.w[1]) @ self.w[2]
        return h.argmax(1) if self.discrete else np.tanh(h).reshape(len(h), *self.shape)


# ------------------------------------------------------------------ systems: name -> (make, block)
def _gym_lockstep(env: Any, policy: Act, steps: int) -> Callable[[], None]:
    return _lockstep(env, policy, steps, env.reset(seed=0)[0])


def _sb3_lockstep(env: Any, policy: Act, steps: int) -> Callable[[], None]:
    return _lockstep(env, policy, steps, env.reset())  # SB3's reset returns the observations only


def _lockstep(env: Any, policy: Act, steps: int, obs: Any) -> Callable[[], None]:
    state = {"obs": obs}

    def block() -> None:
        obs = state["obs"]
        for _ in range(steps):
            obs = env.step(policy(obs))[0]
        state["obs"] = obs
    return block


def _double_buffered(env: Any, policy: Act, steps: int) -> Callable[[], None]:
    from perf.envs.report import _double_buffered_block  # the policy section's block (report imports this module)

    return _double_buffered_block(env, steps, policy)


def _envpool_async(env: Any, policy: Act, steps: int, n: int) -> Callable[[], None]:
    """EnvPool's async mode: batches of n/2 envs, each sent back as soon as the policy has acted on it."""
    env.async_reset()

    def block() -> None:
        for _ in range(2 * steps):
            obs, _, _, _, info = env.recv()
            env.send(policy(obs), info["env_id"])
    return block


def _systems(env_id: str, n: int, cores: int, steps: int, policy: _Policy) -> dict[str, tuple[Callable, Callable]]:
    from fastparl.env import make_vector_env

    make = _make_gym(env_id)
    same = gym.vector.AutoresetMode.SAME_STEP
    k = max(1, min(cores, n))
    out: dict[str, tuple[Callable, Callable]] = {
        f"gymnasium SyncVectorEnv({n})": (lambda: gym.vector.SyncVectorEnv([make] * n, autoreset_mode=same),
                                          _gym_lockstep),
        f"gymnasium AsyncVectorEnv({n})": (lambda: gym.vector.AsyncVectorEnv([make] * n, autoreset_mode=same),
                                           _gym_lockstep),
        f"fastparl RemoteVectorEnv({k} actors x {n // k}), double-buffered, pinned": (
            lambda: make_vector_env(make, n, num_actors=k, copy=False, groups=max(2, k), pin=True), _double_buffered),
        f"fastparl RemoteVectorEnv({k} actors x {n // k}), double-buffered": (  # pinning's cost under others' load
            lambda: make_vector_env(make, n, num_actors=k, copy=False, groups=max(2, k)), _double_buffered),
        f"fastparl RemoteVectorEnv({k} actors x {n // k}), lockstep": (
            lambda: make_vector_env(make, n, num_actors=k, copy=False), _gym_lockstep),
    }
    try:
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

        out[f"SB3 DummyVecEnv({n})"] = (lambda: DummyVecEnv([make] * n), _sb3_lockstep)
        out[f"SB3 SubprocVecEnv({n})"] = (lambda: SubprocVecEnv([make] * n, start_method="fork"), _sb3_lockstep)
    except ImportError:
        pass
    try:
        import envpool

        ep_id = env_id.split("/", 1)[1] if env_id.startswith("ALE/") else env_id
        kw = {"episodic_life": False, "reward_clip": False} if env_id.startswith("ALE/") else {}
        out[f"EnvPool sync({n}, {cores} threads)"] = (
            lambda: envpool.make(ep_id, env_type="gymnasium", num_envs=n, num_threads=cores, seed=0, **kw),
            _gym_lockstep)
        for mode in ("next-step", "same-step"):  # fastparl's engine: the same pool behind gymnasium's VectorEnv
            out[f"{ENGINE}, {mode}, {cores} threads)"] = (
                lambda mode=mode: make_vector_env(env_id, n, engine="envpool", autoreset_mode=mode.replace("-", "_"),
                                                  num_threads=cores, seed=0), _gym_lockstep)
        if n >= 2:
            out[f"EnvPool async({n}, batches of {n // 2}, {cores} threads)"] = (
                lambda: envpool.make(ep_id, env_type="gymnasium", num_envs=n, batch_size=n // 2, num_threads=cores,
                                     seed=0, **kw),
                lambda env, pol, s: _envpool_async(env, pol, s, n))
    except ImportError:
        pass
    return out


def _serial_rate(env_id: str, seconds: float) -> tuple[float, float]:
    """One env stepped in this process with random actions: the work every system must do, per core.  Returns
    steps per second of wall and the CPU seconds a step took (this thread's: on a loaded machine the loop is
    off its core part of the time, and the wall-clock rate, the ceiling's, counts that)."""
    env = _make_gym(env_id)()
    env.reset(seed=0)
    env.action_space.seed(0)
    acts = [env.action_space.sample() for _ in range(512)]
    steps, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        for a in acts[:64]:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        steps += 64
    rate, cpu = steps / (time.perf_counter() - t0), (time.thread_time() - c0) / steps
    env.close()
    return rate, cpu


def bench_ecosystem(cfg: Any) -> dict:
    envs = cfg.eco_envs
    sizes = cfg.eco_sizes
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rounds = 1 if cfg.quick else cfg.eco_rounds
    missing = []
    for mod, what in (("stable_baselines3", "SB3 DummyVecEnv / SubprocVecEnv"), ("envpool", "EnvPool")):
        try:
            __import__(mod)
        except ImportError:
            missing.append(f"{what}: not installed (pip install {mod.replace('_', '-')})")
    default = blas_threads()  # the driver's OpenBLAS threads: the library's default, then as --eco-blas-threads says
    run = cfg.eco_blas_threads if cfg.eco_blas_threads > 0 and default is not None else default
    results: dict[str, Any] = {"cores": cores, "missing": missing, "cells": [],
                               "blas_threads": {"default": default, "run": run}}
    try:
        _bench_envs(cfg, envs, sizes, cores, rounds, results, default, run)
    finally:
        if default is not None:
            blas_threads(default)
    return results


def _bench_envs(cfg: Any, envs: list[str], sizes: list[int], cores: int, rounds: int, results: dict,
                default: int | None, run: int | None) -> None:
    for env_id in envs:
        try:
            serial, serial_cpu_s = _serial_rate(env_id, 0.5 if cfg.quick else 2.0)
        except Exception as e:  # noqa: BLE001 - e.g. ale-py or mujoco missing
            results["cells"].append({"env": env_id, "error": f"{type(e).__name__}: {e}"})
            continue
        probe = _make_gym(env_id)()
        policy = _Policy(probe.observation_space, probe.action_space)
        obs0 = np.asarray(probe.reset(seed=0)[0])
        probe.close()
        for n in sizes:
            # a block: ~eco_seconds / 8 at the ceiling, the same env steps at every size (long enough for the
            # CPU counters and a double-buffered pipeline's fill and drain)
            steps = max(4, int(cfg.eco_seconds * serial / 8 / n))
            # the harness's watchdog, re-armed per cell: 3 envs x 2 sizes outlast one section's limit under load
            faulthandler.dump_traceback_later(SECTION_TIMEOUT_S, exit=True)
            batch, secs = np.stack([obs0] * n), (0.1 if cfg.quick else 0.5)
            extra = {}
            if run != default and default is not None and run is not None:  # the policy alone on the default too
                blas_threads(default)
                extra["policy_s_default_threads"], extra["policy_cpu_s_default_threads"] = policy_seconds(
                    policy, batch, secs)
                blas_threads(run)
            policy_s, policy_cpu_s = policy_seconds(policy, batch, secs)
            cell = _measure_cell(cfg, env_id, n, cores, steps, rounds, policy)
            cell.update(serial=serial, serial_cpu_s=serial_cpu_s, ceiling=cores * serial, policy_s=policy_s,
                        policy_cpu_s=policy_cpu_s,
                        bounds=bounds(cores, serial, policy_s, policy_cpu_s), **extra)
            results["cells"].append(cell)
            log(f"ecosystem {env_id} x {n}: " + ", ".join(f"{k.split('(')[0]} {v:,.0f}" for k, v in cell["rates"].items()))


def _measure_cell(cfg: Any, env_id: str, n: int, cores: int, steps: int, rounds: int, policy: _Policy) -> dict:
    """Every system of one (env, size) cell, profiled: blocks in turn, ``rounds`` rounds; rates and profiles
    are medians over the quiet rounds when at least 5 are quiet, else over all."""
    made, blocks, profs, errors = {}, {}, {}, {}
    for name, (mk, blk) in _systems(env_id, n, cores, steps, policy).items():
        if cfg.quick and ("AsyncVectorEnv" in name or "Subproc" in name) and n > 8:
            continue
        try:
            before = snapshot()
            made[name] = mk()
            profs[name] = prof = Profile()
            prof.hook(made[name])
            block = blk(made[name], prof.timed(policy), steps)
            block()  # warm up (threads a system starts lazily are running by now)
            prof.workers = Workers(before)
            blocks[name] = block
        except Exception as e:  # noqa: BLE001 - one system failing must not lose the others
            errors[name] = f"{type(e).__name__}: {e}"[:300]
    records: dict[str, list[dict]] = {name: [] for name in blocks}
    try:
        for _ in range(rounds):
            for name, fn in blocks.items():
                records[name].append(profs[name].run(fn))
    finally:
        for env in made.values():
            try:
                env.close()
            except Exception:  # noqa: BLE001
                pass
    cell: dict[str, Any] = {"env": env_id, "num_envs": n, "steps": steps, "rounds": rounds, "errors": errors}
    if not records:
        return cell | {"rates": {}}
    others = [_weighted([r[i] for r in records.values()], "others") for i in range(rounds)]
    quiet = [i for i, o in enumerate(others) if o < QUIET]
    use = quiet if len(quiet) >= 5 else list(range(rounds))
    per_round = {name: [steps * n / r["wall"] for r in rs] for name, rs in records.items()}
    target = next((k for k in per_round if k.startswith("fastparl") and k.endswith(TARGET_MODE)), None)
    return cell | {
        "quiet_rounds": len(quiet), "others": others,
        "niced": [_weighted([r[i] for r in records.values()], "niced") for i in range(rounds)],
        "rates": {name: median([rs[i] for i in use]) for name, rs in per_round.items()},
        "all_rounds": {name: [round(x) for x in rs] for name, rs in per_round.items()},
        "profile": {name: summarize([rs[i] for i in use], steps * n, cores, len(profs[name].workers or ()))
                    for name, rs in records.items()},
        "target": target,  # fastparl's row the targets are judged on; its ratios: medians of within-round ratios
        "ratios": {} if target is None else {
            other: median([per_round[target][i] / rs[i] for i in use]) for other, rs in per_round.items()
            if other.startswith(THEIRS)},
        "engine_ratios": {  # fastparl's EnvPool engine against raw EnvPool (sync), within rounds (target 0.9)
            name: median([rs[i] / raw[i] for i in use]) for name, rs in per_round.items() if name.startswith(ENGINE)
            for raw in [next((v for k, v in per_round.items() if k.startswith("EnvPool sync(")), None)] if raw}}


ENGINE = "fastparl make_vector_env(engine='envpool'"  # rows of fastparl's EnvPool engine (name prefix)
THEIRS = ("gymnasium AsyncVectorEnv", "SB3 SubprocVecEnv")  # the systems the 2x target compares with
TARGET_MODE = "double-buffered, pinned"  # fastparl's row the targets are judged on (as in the policy section)


def _weighted(recs: list[dict], key: str) -> float:
    """Others' cores over a round: each block's, weighted by its wall time."""
    got = [(r[key], r["wall"]) for r in recs if r[key] is not None]
    return sum(v * w for v, w in got) / sum(w for _, w in got) if got else float("nan")


def _frac(prof: dict, key: str, workers: int) -> str:
    x = prof.get(key)
    return "—" if x is None or x != x else f"{x / workers:.2f}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def render_ecosystem(E: dict) -> list[str]:
    L = ["## Ecosystem: what gymnasium, SB3 and EnvPool users step with (driver-side policy)", ""]
    if "error" in E:
        return L + [f"error: {E['error']}", ""]
    for m in E.get("missing", []):
        L.append(f"- {m}")
    if E.get("missing"):
        L.append("")
    bt = E.get("blas_threads")
    if bt:
        L += [f"The driver's policy runs on {bt['run']} OpenBLAS thread(s) (`--eco-blas-threads`; the library's default "
              f"here: {bt['default']}), in every system alike.", ""]
    L += ["Columns (`perf/envs/profile.py`): ÷ the ceiling (cores × the serial env loop, no policy) and ÷ the bounds "
          "that add the policy (*lockstep*: envs on every core, then the policy while they wait; *overlap*: envs and "
          "policy share the cores, nothing waits, at most 1 / policy); the driver's wall: the policy call, and step "
          "(for fastparl: waiting for the actors · its own work: actions in, results and infos out); CPU in cores: "
          "the driver process · the workers the system started (actors, subprocesses, EnvPool threads; busy: ÷ "
          "min(workers, cores)); the same CPU in µs per env step; other processes' cores during its blocks "
          "(normal priority + niced) and the cores left idle.  Medians over the rounds used.", ""]
    for cell in E.get("cells", []):
        if "error" in cell:
            L += [f"{cell['env']}: {cell['error']}", ""]
        else:
            L += _render_cell(cell, E["cores"])
    return L


def _render_cell(cell: dict, cores: int) -> list[str]:
    n, serial, ceiling = cell["num_envs"], cell["serial"], cell["ceiling"]
    L = [f"### {cell['env']}, {n} envs", "",
         f"Ceiling: {cores} cores × serial env loop {serial:,.0f} steps/s ({1e6 / serial:.1f} µs a step) = "
         f"**{ceiling:,.0f}**.  Blocks of {cell['steps']} batch steps."]
    if "serial_cpu_s" in cell:
        e = cell["serial_cpu_s"]
        L[-1] += (f"  The serial loop's CPU: {1e6 * e:.1f} µs a step (it had a core {e * serial:.2f} of its wall: "
                  f"with a core to itself, the *CPU ceiling* {cores} / {1e6 * e:.1f} µs = {cores / e:,.0f}).")
    b = cell.get("bounds")
    if b:
        other = ""
        if "policy_s_default_threads" in cell:
            other = (f"; on OpenBLAS's default threads, not used in this run: {1e6 * cell['policy_s_default_threads']:.1f}"
                     f" µs, CPU {1e6 * cell['policy_cpu_s_default_threads']:.1f} µs")
        L[-1] += (f"  The policy alone: {1e6 * cell['policy_s']:.1f} µs per env step (a batch of {n}; CPU "
                  f"{1e6 * cell.get('policy_cpu_s', cell['policy_s']):.1f} µs{other}); with it, "
                  f"lockstep bound **{b['lockstep']:,.0f}** ({b['lockstep'] / ceiling:.2f} of the ceiling), overlap "
                  f"bound **{b['overlap']:,.0f}** ({b['overlap'] / ceiling:.2f}).")
    if "quiet_rounds" in cell:
        L[-1] += (f"  {cell['quiet_rounds']} of {cell['rounds']} rounds quiet; other processes used "
                  f"{median(np.subtract(cell['others'], cell['niced'])):.2f} cores at normal priority and "
                  f"{median(cell['niced']):.2f} niced "
                  "(medians over the rounds).")
    L.append("")
    prof = cell.get("profile", {})
    rows = []
    for name, v in sorted(cell["rates"].items(), key=lambda kv: -kv[1]):
        row = [name, f"{v:,.0f}", f"{v / ceiling:.2f}"]
        p = prof.get(name)
        if p and b:
            step = _pct(p["step"]) + ("" if p["wait"] is None else f" ({_pct(p['wait'])} · {_pct(p['own'])})")
            workers = "—" if not p["workers"] else (f"{p['workers_cores']:.2f} ({p['workers']} workers, busy "
                                                    f"{p['busy']:.2f})")
            row += [f"{v / b['lockstep']:.2f} · {v / b['overlap']:.2f}", _pct(p["policy"]), step,
                    f"{p['driver_cores']:.2f} · {workers}", f"{p['driver_us']:.0f} + {p['workers_us']:.0f}",
                    f"{p['others']:.2f} + {p['niced']:.2f} · {p.get('idle', float('nan')):.2f}"]
        rows.append(row)
    head = ["system", "env steps/s", "÷ ceiling"]
    if b:
        head += ["÷ lockstep · overlap bound", "policy", "step (waiting · own)", "CPU cores: driver · workers",
                 "CPU µs / env step: driver + workers", "others' cores: normal + niced · idle"]
    L += md_table(head, [r + [""] * (len(head) - len(r)) for r in rows])
    for name, err in cell.get("errors", {}).items():
        L.append(f"- {name}: {err}")
    L += [""] + _targets(cell, cores)
    return L


def _targets(cell: dict, cores: int) -> list[str]:
    """The targets line and what stands between, for fastparl's double-buffered row."""
    rates, ceiling, b = cell["rates"], cell["ceiling"], cell.get("bounds")
    target = cell.get("target") or next((k for k in rates if k.startswith("fastparl") and k.endswith(TARGET_MODE)), None)
    if target is None or target not in rates:
        return []
    v = rates[target]
    parts = [f"{v / ceiling:.2f} of the ceiling (target 0.9)"]
    for other, r in rates.items():
        if other.startswith(THEIRS):
            ratio = cell.get("ratios", {}).get(other, v / r)
            room = f"ceiling allows {ceiling / r:.2f}×" + (f", the overlap bound {b['overlap'] / r:.2f}×" if b else "")
            parts.append(f"{ratio:.2f}× {other.split('(')[0].strip()} (target 2×; {room})")
    L = [f"Targets ({target}): " + "; ".join(parts) + ".", ""]
    engine = cell.get("engine_ratios", {})
    if engine:
        L += ["EnvPool engine (target ≥ 0.9× raw EnvPool sync, the same pool and threads; same-step also steps the "
              "ended envs once more to return their first observation): " + "; ".join(
                  f"{name[len(ENGINE) + 2:].rstrip(')')}: {r:.2f}×" for name, r in engine.items()) + ".", ""]
    p = cell.get("profile", {}).get(target)
    if not (p and b):
        return L
    env_s = cell.get("serial_cpu_s", 1 / cell["serial"])
    f = factors(v, p, cores, env_s, cell.get("policy_cpu_s", cell["policy_s"]))
    env_us, pol_us = 1e6 * env_s, 1e6 * cell.get("policy_cpu_s", cell["policy_s"])
    loss = min(("U: cores held by other processes or left idle", f["U"]), ("P: the policy's own cost", f["P"]),
               ("E: CPU spent per env step beyond the env and the policy", f["E"]), key=lambda kv: kv[1])
    text = (f"What stands between (fastparl): {f['of_ceiling']:.2f} of the CPU ceiling ≈ U {f['U']:.2f} × P {f['P']:.2f} × "
            f"E {f['E']:.2f}.  U: the driver and {p['workers']} actors kept "
            f"{p['driver_cores'] + p['workers_cores']:.2f} of {cores} cores busy; an actor was busy "
            f"{p['workers_cores'] / p['workers']:.2f} of the time, queued for a CPU {_frac(p, 'workers_queued', p['workers'])} "
            f"and asleep (waiting for work) the rest; the driver queued {_frac(p, 'driver_queued', 1)} of its wall; other "
            f"processes used {p['others']:.2f} at normal priority and {p['niced']:.2f} niced (background runs at low "
            f"priority), {p.get('idle', float('nan')):.2f} idle.  P: the policy costs {pol_us:.1f} µs per "
            f"env step of CPU beside the env's {env_us:.1f} (the serial loop's CPU).  E: the driver spent {p['driver_us']:.1f} µs of CPU per env step "
            f"({p['driver_us'] - pol_us:+.1f} beyond the policy's CPU alone; its other threads, OpenBLAS's, "
            f"{p.get('helpers_cores', 0.0):.2f} cores) and the actors {p['workers_us']:.1f} "
            f"({p['workers_us'] - env_us:+.1f} beyond the serial env loop's CPU).  The driver's wall: policy "
            f"{_pct(p['policy'])}, waiting for the actors {_pct(p['wait'])}, its own work in step {_pct(p['own'])}.  "
            f"Largest factor lost: {loss[0]} ({loss[1]:.2f}).")
    rest = [f"{k.split('), ', 1)[1]} {r:,.0f} ({r / v:.2f}×)" for k, r in rates.items()
            if k.startswith("fastparl") and k != target and "), " in k]
    if rest:
        text += "  fastparl's other rows: " + ", ".join(rest) + "."
    mine = p["driver_us"] + p["workers_us"]
    for other, r in rates.items():
        q = cell["profile"].get(other)
        if other.startswith(THEIRS) and q:
            theirs = q["driver_us"] + q["workers_us"]
            used = (p["driver_cores"] + p["workers_cores"]) / (q["driver_cores"] + q["workers_cores"])
            text += (f"  Against {other.split('(')[0].strip()}: {v / r:.2f}× ≈ {used:.2f}× the cores kept busy × "
                     f"{theirs / mine:.2f}× less CPU per env step (theirs {q['driver_us']:.0f} + {q['workers_us']:.0f} µs).")
    return L + [text, ""]
