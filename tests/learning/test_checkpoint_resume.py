"""A long off-policy run survives being killed: ``--resume`` continues from its last checkpoint exactly as the
uninterrupted run would (examples/_checkpoint.py): the same final weights, bit for bit.  SIGTERM makes a run save
a checkpoint before it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("paddle")
from _examples import ROOT  # noqa: E402

ARGS = ["--env", "Pendulum-v1", "--seed", "3", "--total-steps", "2400", "--warmup-steps", "300", "--hidden", "32",
        "--batch-size", "64", "--eval-every", "1000", "--eval-episodes", "1", "--no-tensorboard"]


def _run(algo: str, logdir: str, *extra: str, wait: bool = True) -> subprocess.Popen:
    cmd = [sys.executable, os.path.join(ROOT, "examples", algo, "train.py"), *ARGS, "--logdir", logdir, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if wait:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    return proc


def _weights(logdir: str) -> dict[str, np.ndarray]:
    import paddle

    return {k: np.asarray(v) for k, v in paddle.load(os.path.join(logdir, "model.ckpt.pdparams")
                                                     if os.path.exists(os.path.join(logdir, "model.ckpt.pdparams"))
                                                     else os.path.join(logdir, "model.ckpt")).items()}


def _checkpoint_step(logdir: str) -> int:
    import pickle

    path = os.path.join(logdir, "checkpoint", "state.pkl")
    try:
        with open(path, "rb") as f:
            return int(pickle.load(f)["counters"]["step"])
    except (OSError, EOFError, pickle.UnpicklingError, KeyError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("algo,stop", [("SAC", "SIGKILL"), ("TD3", "SIGTERM")])
def test_a_killed_run_resumed_ends_with_the_same_weights(tmp_path, algo, stop):
    """SIGKILL: the run resumes from its last periodic checkpoint.  SIGTERM (a scheduler's or perf.mujoco's stop):
    the run saves a checkpoint at its next episode's end and exits with 143, though paddle's own SIGTERM handler
    would abort it (here no periodic checkpoint is due: without that save there is nothing to resume from)."""
    whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
    _run(algo, whole)
    if stop == "SIGKILL":
        proc = _run(algo, broken, "--checkpoint-every", "0.01", wait=False)
        deadline = time.monotonic() + 300
        while _checkpoint_step(broken) < 1400:  # past warm-up and an evaluation: learning and all RNGs in play
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    else:
        cmd = [sys.executable, os.path.join(ROOT, "examples", algo, "train.py"), *ARGS, "--logdir", broken,
               "--checkpoint-every", "100000"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = []
        for line in proc.stdout:  # the evaluation at step 1000 is logged: learning and all RNGs in play
            seen.append(line)
            if "step 1000 " in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait(timeout=300) == 143, "".join(seen)[-2000:] + rest[-3000:]
        assert "SIGTERM: checkpoint saved" in rest and 1000 < _checkpoint_step(broken) <= 1400, rest[-3000:]
    assert _checkpoint_step(broken) < 2400
    _run(algo, broken, "--resume", "--checkpoint-every", "0.01")
    a, b = _weights(whole), _weights(broken)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), "the resumed run diverged"
    rows = open(os.path.join(broken, "progress.csv")).read().splitlines()
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == sorted(steps) and steps[-1] == 2400  # the csv goes on after the checkpoint, no repeats


@pytest.mark.slow
def test_a_killed_ppo_run_resumes_its_schedules_and_counters(tmp_path):
    """PPO's envs cannot be saved (a resumed run starts new episodes), but everything that learns is: the
    learning-rate schedule goes on where it stopped, the step count and the csv continue, the run finishes."""
    args = ["--env", "CartPole-v1", "--seed", "2", "--total-steps", "20000", "--eval-episodes", "1",
            "--no-tensorboard"]
    whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
    script = os.path.join(ROOT, "examples", "PPO", "train.py")
    subprocess.run([sys.executable, script, *args, "--logdir", whole], check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen([sys.executable, script, *args, "--logdir", broken, "--checkpoint-every", "0.01"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _checkpoint_step(broken) < 8000:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run([sys.executable, script, *args, "--logdir", broken, "--resume"], capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0 and "resumed from" in resumed.stderr + resumed.stdout, resumed.stderr[-3000:]

    def lrs(logdir):
        import csv

        with open(os.path.join(logdir, "progress.csv"), newline="") as f:
            return {int(r["env_steps"]): float(r["lr"]) for r in csv.DictReader(f) if r.get("lr")}

    a, b = lrs(whole), lrs(broken)
    assert a == b, "the learning-rate schedule (and the step count) did not continue where it stopped"
