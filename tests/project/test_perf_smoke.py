"""The perf/ reports run (quick mode) and write their tables; speed itself is not asserted here."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.timeout(300)


def _run(args, tmp_path):
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def test_runtime_report_quick(tmp_path):
    _run(["perf.runtime", "--quick", "--out", str(tmp_path)], tmp_path)
    text = (tmp_path / "runtime.md").read_text()
    for measure in ("no-op call p50", "in / out vs floor", "in / out vs mp proxy", "128 MB array in",
                    "N threads calling one actor", "pipelined futures", "start actor → first call",
                    "runtime footprint", "CPU-bound speedup, N = 2"):
        assert measure in text
    targets = text.split("## Targets")[1].split("\n## ")[0]
    assert "section failed" not in text, text
    rows = [line for line in targets.splitlines() if line.startswith("| ") and not line.startswith("| measure")]
    assert len(rows) >= 9 and all(re.search(r"\| (met|\*\*not met\*\*|n/a)( \(.*\))? \|$", r) for r in rows), rows
    R = json.loads((tmp_path / "runtime.json").read_text())
    for row in R["arrays"]["rows"]:  # the floor is measured in the same run, at every size
        assert 0 < row["noop_s"] < row["floor_s"] and row["fastparl_in_x_floor"] == row["fastparl_in_s"] / row["floor_s"]
    assert [r["threads"] for r in R["threads"]["rows"]] == [1, 4, 16]
    assert R["arrays"]["oob_sweep"].get("rows"), R["arrays"]["oob_sweep"]
    assert R["leftover_processes"] == 0


def test_vector_env_report_quick(tmp_path):
    """--quick: a fixed 3 rounds, however busy the machine (without it, rounds are added until enough are
    quiet, for up to 150 s a section)."""
    out = tmp_path / "envs.md"
    stdout = _run(["perf.envs", "--quick", "--steps", "20", "--envs-per-actor", "8", "--async-envs", "0", "--out", str(out)],
                  tmp_path)
    text = out.read_text()
    assert "RemoteVectorEnv(2 actors x 8)" in text and "SyncVectorEnv(8)" in stdout
    # the ecosystem section's profile (perf/envs/profile.py): what stands between each system and the ceiling
    assert "÷ lockstep · overlap bound" in text and "What stands between (fastparl)" in text
    eco = json.loads((tmp_path / "envs.json").read_text())["ecosystem"]
    assert set(eco["blas_threads"]) == {"default", "run"}
    cell = eco["cells"][0]
    assert {"ceiling", "lockstep", "overlap"} <= set(cell["bounds"]) and cell["policy_s"] > 0
    assert cell["target"] in cell["rates"] and set(cell["profile"]) == set(cell["rates"])
    for name, prof in cell["profile"].items():
        assert {"policy", "step", "driver_cores", "helpers_cores", "workers_cores", "driver_us", "workers_us",
                "driver_queued", "workers_queued", "others", "niced", "idle"} <= set(prof), name
        if name.startswith("fastparl RemoteVectorEnv"):  # waiting for the actors timed apart; both actors found
            assert prof["wait"] is not None and prof["own"] is not None and prof["workers"] == 2, (name, prof)
    if importlib.util.find_spec("envpool") is not None:  # fastparl's EnvPool engine beside raw EnvPool
        assert len(cell["engine_ratios"]) == 2 and all(r > 0 for r in cell["engine_ratios"].values()), cell
        assert "EnvPool engine (target ≥ 0.9× raw EnvPool sync" in text


def test_a_report_without_out_writes_to_scratch_not_the_committed_results(tmp_path, monkeypatch):
    """A trial run must not overwrite perf/results (which the README links to): the default is perf/scratch."""
    sys.path.insert(0, ROOT)
    from perf.common.harness import run_report

    monkeypatch.chdir(tmp_path)
    run_report("probe", [("one", lambda cfg: {"x": 1})], lambda R: "# probe\n", lambda args: args, argv=["--quick"])
    assert (tmp_path / "perf" / "scratch" / "probe.md").exists()
    assert not (tmp_path / "perf" / "results").exists()


def test_rl_breakdown_quick(tmp_path):
    """perf.rl.breakdown measures every part of a sampler call in one run."""
    _run(["perf.rl.breakdown", "--quick", "--out", str(tmp_path)], tmp_path)
    us = json.loads((tmp_path / "rl_breakdown.json").read_text())["us"]
    assert set(us) == {"serial", "inner", "call", "call_blocking", "noop", "same_payload", "busy", "busy_inner"}
    assert all(v > 0 for v in us.values()), us
    assert us["busy"] > us["busy_inner"]  # a call that busy-waits takes at least its wait
    assert "| runtime round trip (no-op call) |" in (tmp_path / "rl_breakdown.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_budgets_report_quick(tmp_path):
    """perf.budgets runs every cell (the SAC and PPO examples with --actors 0/1 x --learners 1/2, and SAC's step
    by rows) and writes a rate and extrapolated wall times for each."""
    out = subprocess.run([sys.executable, "-m", "perf.budgets", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=540)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    text = (tmp_path / "budgets.md").read_text()
    assert "failed" not in text, text
    R = json.loads((tmp_path / "budgets.json").read_text())
    for section in ("sac", "ppo"):
        rates = R[section]["rates"]
        assert len(rates) == 4 and all(r[0] > 0 for r in rates.values()), rates
    assert len(R["step"]["ms"]) == 5 and all(v[0] > 0 for v in R["step"]["ms"].values())
    assert text.count("| `--actors 1 --learners 2` |") == 2 and "2 learners (gloo)" in text
