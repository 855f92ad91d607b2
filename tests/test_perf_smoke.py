"""The perf/ reports run (quick mode) and write their tables; speed itself is not asserted here."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.timeout(300)


def _run(args, tmp_path):
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out.stdout


def test_runtime_report_quick(tmp_path):
    _run(["perf.runtime", "--quick", "--out", str(tmp_path)], tmp_path)
    text = (tmp_path / "runtime.md").read_text()
    for measure in ("no-op call p50", "pipelined futures", "128 MB array in", "start actor → first call",
                    "CPU-bound speedup"):
        assert measure in text


def test_vector_env_report_quick(tmp_path):
    out = tmp_path / "envs.md"
    stdout = _run(["perf.envs", "--steps", "20", "--envs-per-actor", "8", "--async-envs", "0", "--out", str(out)],
                  tmp_path)
    assert "RemoteVectorEnv(2 actors x 8)" in out.read_text() and "SyncVectorEnv(8)" in stdout
