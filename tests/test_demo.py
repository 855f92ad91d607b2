"""The README's first command runs examples/demo.py: keep its parallel part working."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_demo_parallel_part_runs():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py"), "--no-train", "--limit", "60000"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "| actors | serial (s) | parallel (s) | speedup |" in out.stdout
    row = out.stdout.strip().splitlines()[-1].split("|")
    assert int(row[1]) == (os.cpu_count() or 1) and row[4].strip().endswith("x")
