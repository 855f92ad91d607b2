"""PARL-style programs run as a user runs them: ``python train.py`` in a folder of train.py + model + agent
files written against PARL's names only, with ``import fastparl as parl`` (``programs/*``).

Each prints ``RESULT {json}`` at the end; the checks below are on what it learned and on PARL behaviours
the programs rely on (seeding np.random makes ReplayMemory sampling repeatable, restore gives the same
policy, connect("localhost:...") runs actors locally).  Budgets are small and seeds fixed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("paddle")

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")


def _start(program: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "train.py", *args], cwd=os.path.join(PROGRAMS, program),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _result(proc: subprocess.Popen, timeout: float = 240) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, out[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _run(program: str, *args: str) -> dict:
    return _result(_start(program, *args))


def test_quickstart_policy_gradient_learns_and_restores(tmp_path):
    r = _run("policy_gradient", "--episodes", "100", "--seed", "0", "--logdir", str(tmp_path))
    assert r["last"] > 2 * r["first"] and r["last"] > 50, r  # sampled returns of the last vs first 20 episodes
    assert r["restored_same"] is True
    assert r["logdir"] == str(tmp_path / "pg") and os.listdir(r["logdir"])  # TensorBoard events beside log.log


def test_dqn_with_replay_memory_learns_and_is_repeatable():
    """Two runs with the same --seed (np.random.seed + paddle.seed only) end with identical weights."""
    procs = [_start("dqn", "--steps", "1500", "--explore_steps", "800", "--seed", "0") for _ in range(2)]
    a, b = (_result(p) for p in procs)
    assert a["losses_finite"] and a["last"] > 2 * a["first"] and a["last"] > 50, a
    assert a["weights"] == b["weights"]


def test_remote_class_actors_learn_with_evolution_strategies():
    r = _run("remote_es", "--seed", "0", "--iterations", "20", "--actor_num", "2")
    assert r["last"] > 3 * r["first"] and r["last"] > 100, r


def test_a2c_with_parl_env_wrappers_learns():
    r = _run("a2c_wrappers", "--seed", "1", "--updates", "150")
    assert r["last"] > 2 * r["first"] and r["last"] > 50, r
    assert 0 < r["lr"] < 0.003 and r["entropy_coeff"] == -0.001  # the schedulers moved on
    assert r["continuous"] == {"episode_steps": 200, "bad_transition": True, "rms_count": pytest.approx(201, abs=1)}
