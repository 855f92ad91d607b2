"""``python -m perf.mujoco``: the run list, and its Stable-Baselines3 reference runs (``perf/mujoco/sb3_run.py``).

Without SB3: the list's order and names, fastparl's commands as they were (runs in progress resume by them), and
SB3's runs skipped, not failed, when no interpreter imports stable_baselines3.  With SB3 (only when ``$SB3_PYTHON``
names an interpreter that imports it, so that the default run never depends on what else this machine holds;
skipped otherwise): tiny runs on
InvertedPendulum-v5 through the run list (progress.csv in the examples' columns, result.json), stopped and
resumed (the same rows as the uninterrupted run, bit for bit), and stopped by SIGTERM (checkpoint, exit 143,
resume at that step).
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from perf.mujoco import runs  # noqa: E402

SCRIPT = os.path.join(ROOT, "perf", "mujoco", "sb3_run.py")
TINY = ("--warmup-steps", "100", "--eval-every", "300", "--eval-episodes", "2")
OFF_POLICY_COLUMNS = ["env_steps", "time_elapsed", "episode_return", "episode_length", "critic_loss", "eval_return",
                      "episodes"]  # examples/_offpolicy.py's progress.csv
ROWS = ["td3-halfcheetah", "td3-hopper", "sac-halfcheetah", "sac-hopper", "ppo-hopper"]


# ------------------------------------------------------------------------------------------ without SB3
def test_the_list_is_fastparl_seed_0_then_sb3_seed_0_then_fastparls_other_seeds():
    names = [r.name for r in runs.RUNS]
    assert names == ([f"{g}-s0" for g in ROWS] + [f"sb3-{g}-s0" for g in ROWS] + [f"{g}-s1" for g in ROWS]
                     + [f"{g}-s2" for g in ROWS])
    td3 = runs.RUNS[1]  # fastparl's commands and folders as before SB3's runs were added: runs under way resume
    assert td3.command()[1:] == ["examples/TD3/train.py", "--env", "Hopper-v5", "--total-steps", "300000", "--seed",
                                 "0", "--logdir", "perf/results/mujoco/td3-hopper-s0", "--no-tensorboard",
                                 "--checkpoint-every", "300", "--resume"]
    assert td3.folder == os.path.join(ROOT, "perf", "results", "mujoco", "td3-hopper-s0")
    sb3 = runs.RUNS[9]
    assert sb3.row == "ppo-hopper" and sb3.group == "sb3-ppo-hopper" and sb3.steps == 1_000_000
    assert sb3.command("/x/python") == ["/x/python", "perf/mujoco/sb3_run.py", "--algo", "PPO", "--env", "Hopper-v5",
                                        "--total-steps", "1000000", "--seed", "0", "--logdir",
                                        "perf/results/mujoco/sb3-ppo-hopper-s0", "--checkpoint-every", "300",
                                        "--resume"]


def test_without_an_sb3_interpreter_its_runs_are_skipped_and_the_others_listed(tmp_path, monkeypatch, capsys):
    missing = str(tmp_path / "no-python")
    assert runs.sb3_python(missing) is None
    assert runs.main(["status", "--sb3-python", missing]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    for r in runs.RUNS:
        if r.system == "sb3" and not runs._done(r):
            assert runs.NO_SB3 in lines[r.name]
        elif r.system == "fastparl":
            assert runs.NO_SB3 not in lines[r.name]
    monkeypatch.setattr(runs, "ROOT", str(tmp_path))
    tiny = runs.Run("TD3", "InvertedPendulum-v5", 600, 0, "sb3", TINY)
    assert runs.run_all([tiny], 1, None) == 0  # nothing to start, nothing failed
    assert runs.NO_SB3 in capsys.readouterr().out and not os.path.exists(tiny.folder)


# ------------------------------------------------------------------------------------------ with SB3
@pytest.fixture(scope="module")
def sb3() -> str:
    given = os.environ.get("SB3_PYTHON", "")
    python = runs.sb3_python(given) if given else None
    if python is None:
        pytest.skip("set SB3_PYTHON to an interpreter that imports stable_baselines3 (e.g. a venv with "
                    "stable-baselines3, torch CPU and gymnasium[mujoco])")
    return python


def _script(sb3: str, *args: str, wait: bool = True) -> subprocess.Popen:
    proc = subprocess.Popen([sb3, SCRIPT, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **runs.ONE_THREAD})
    if wait:
        proc.out = proc.communicate(timeout=240)[0]  # type: ignore[attr-defined]
    return proc


def _rows(logdir: str, drop: tuple[str, ...] = ("time_elapsed", "steps_per_s")) -> list[dict[str, str]]:
    with open(os.path.join(logdir, "progress.csv"), newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def _checkpoint_step(logdir: str) -> int:
    with open(os.path.join(logdir, "checkpoint", "state.pkl"), "rb") as f:
        return int(pickle.load(f)["counters"]["step"])


@pytest.mark.slow
def test_td3_through_the_run_list_and_stopped_then_resumed_writes_the_same_rows(sb3, tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "ROOT", str(tmp_path))
    tiny = runs.Run("TD3", "InvertedPendulum-v5", 600, 0, "sb3", TINY)
    assert runs.run_all([tiny], 1, sb3) == 0
    with open(os.path.join(tiny.folder, "result.json")) as f:
        result = json.load(f)
    with open(os.path.join(tiny.folder, "progress.csv"), newline="") as f:
        assert next(csv.reader(f)) == OFF_POLICY_COLUMNS
    whole = _rows(tiny.folder)
    evals = [r for r in whole if r["eval_return"]]
    assert [int(r["env_steps"]) for r in evals] == [300, 600]  # the examples' schedule: every eval_every, and the end
    assert result["steps"] == 600 and result["system"] == "sb3" and result["run"] == "sb3-td3-invertedpendulum-s0"
    assert result["final_eval_return"] == float(evals[-1]["eval_return"]) and result["steps_per_s"] > 0
    assert result["command"].startswith("perf/mujoco/sb3_run.py --algo TD3 --env InvertedPendulum-v5")

    broken = str(tmp_path / "broken")  # stopped past warm-up and an evaluation, then resumed
    args = ("--algo", "TD3", "--env", "InvertedPendulum-v5", "--total-steps", "600", "--logdir", broken, *TINY)
    stopped = _script(sb3, *args, "--stop-at", "450")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.out
    assert _checkpoint_step(broken) == 450 and max(int(r["env_steps"]) for r in _rows(broken)) <= 450
    resumed = _script(sb3, *args, "--resume")
    assert resumed.returncode == 0 and "resumed from" in resumed.out and "at step 450" in resumed.out, resumed.out
    assert _rows(broken) == whole  # episodes, critic losses and evaluations: the same numbers


@pytest.mark.slow
def test_ppo_stopped_between_updates_and_resumed_writes_the_same_rows(sb3, tmp_path):
    args = ("--algo", "PPO", "--env", "InvertedPendulum-v5", "--total-steps", "4096", "--eval-episodes", "2")
    whole = _script(sb3, *args, "--logdir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.out
    stopped = _script(sb3, *args, "--logdir", str(tmp_path / "broken"), "--stop-at", "2048")
    assert stopped.returncode == 128 + signal.SIGTERM and _checkpoint_step(str(tmp_path / "broken")) == 2048
    resumed = _script(sb3, *args, "--logdir", str(tmp_path / "broken"), "--resume")
    assert resumed.returncode == 0 and "at step 2048" in resumed.out, resumed.out
    rows = _rows(str(tmp_path / "whole"))
    assert [int(r["env_steps"]) for r in rows] == [2048, 4096, 4096] and rows[-1]["eval_return"]
    assert float(rows[-2]["lr"]) == 0.0  # the example's schedule: down to 0 at the last update
    assert _rows(str(tmp_path / "broken")) == rows  # VecNormalize's statistics and return, the env, the generators


@pytest.mark.slow
def test_a_sigtermed_run_checkpoints_exits_143_and_resumes_at_that_step(sb3, tmp_path):
    logdir = str(tmp_path / "run")
    args = ("--algo", "TD3", "--env", "InvertedPendulum-v5", "--total-steps", "3000", "--logdir", logdir, *TINY)
    proc = _script(sb3, *args, wait=False)
    deadline = time.monotonic() + 180
    while not any(r.get("eval_return") for r in (_rows(logdir) if os.path.exists(os.path.join(logdir, "progress.csv"))
                                                 else [])):  # past warm-up and the first evaluation
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 128 + signal.SIGTERM, out
    step = _checkpoint_step(logdir)
    assert 300 <= step < 3000 and f"checkpoint at step {step}" in out, out
    assert max(int(r["env_steps"]) for r in _rows(logdir)) <= step
    resumed = _script(sb3, *args, "--resume", "--stop-at", str(step + 50))
    assert resumed.returncode == 128 + signal.SIGTERM and f"at step {step}\n" in resumed.out, resumed.out
    assert _checkpoint_step(logdir) == step + 50
    steps = [int(r["env_steps"]) for r in _rows(logdir)]
    assert steps == sorted(steps) and steps[-1] <= step + 50  # one run's rows: the resumed steps go on from `step`
    assert [int(r["env_steps"]) for r in _rows(logdir) if r["eval_return"]] == [300 * k for k in
                                                                                range(1, (step + 50) // 300 + 1)]


def test_a_second_run_list_refuses_to_start_while_one_runs(tmp_path, monkeypatch, capsys):
    """Nothing else keeps two managers from running the same runs in the same folders."""
    monkeypatch.setattr(runs, "ROOT", str(tmp_path))
    held = runs._take_lock()
    assert held is not None
    tiny = runs.Run("TD3", "InvertedPendulum-v5", 600, 0, "fastparl")
    try:
        assert runs.run_all([tiny], 1, None) == 1
        assert "another `python -m perf.mujoco run` is running" in capsys.readouterr().out
        assert not os.path.exists(tiny.folder)  # nothing started
    finally:
        held.close()
    assert runs._take_lock() is not None  # free again once the holder is gone


def test_the_report_shows_finished_seeds_apart_from_runs_under_way(tmp_path, monkeypatch):
    from perf.mujoco import report

    monkeypatch.setattr(runs, "ROOT", str(tmp_path / "mujoco"))
    monkeypatch.setattr(report, "OUT", str(tmp_path))
    done, running = runs.Run("TD3", "Hopper-v5", 10_000, 0), runs.Run("TD3", "Hopper-v5", 10_000, 1)
    for r, rows in ((done, [(5000, 10.0, 100.0), (10000, 20.0, 300.0)]), (running, [(5000, 12.0, 123.0)])):
        os.makedirs(r.folder)
        with open(os.path.join(r.folder, "progress.csv"), "w") as f:
            f.write("env_steps,time_elapsed,episode_return,eval_return\n")
            f.writelines(f"{s},{t},,{e}\n" for s, t, e in rows)
    runs._finish(done)
    assert report.report([done, running]) == 0
    text = (tmp_path / "mujoco.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| TD3 | Hopper-v5"))
    assert "| 1 / 2 | 300 ± 0 (running: s1 at 5,000: 123) |" in row, row  # the running seed is not in the mean
    assert json.loads((tmp_path / "mujoco.json").read_text())[0]["partial"] == [
        {"run": "td3-hopper-s1", "steps": 5000, "eval_return": 123.0}]


@pytest.mark.skipif(not os.path.exists("/proc/self/autogroup"), reason="no Linux scheduler autogroups here")
def test_runs_started_under_nice_get_its_niceness_for_their_session(tmp_path):
    """A run starts in its own session (its own scheduler autogroup, where nice alone does not lower its share):
    the manager's niceness is given to that group."""
    code = ("import subprocess, sys; from perf.mujoco import runs\n"
            "p = subprocess.Popen(['sleep', '30'], start_new_session=True, stdout=subprocess.DEVNULL)\n"
            "try:\n    runs._lower_like_this_process(p.pid)\n    print(open(f'/proc/{p.pid}/autogroup').read())\n"
            "finally:\n    p.kill(); p.wait()")
    out = subprocess.run(["nice", "-n", "7", sys.executable, "-c", code], cwd=runs.REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "7", out.stdout  # "/autogroup-N nice 7"
