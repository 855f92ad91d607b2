"""The README's first command runs examples/demo.py: keep both parts working and their output clean."""

import csv
import itertools
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_parallel_part_runs():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py"), "--no-train", "--limit", "60000"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "| actors | serial (s) | parallel (s) | speedup |" in out.stdout
    row = out.stdout.strip().splitlines()[-1].split("|")
    assert int(row[1]) == (os.cpu_count() or 1) and row[4].strip().endswith("x")


@pytest.mark.slow
def test_demo_training_part_learns_and_prints_clean_tables(tmp_path):
    """The training half, on a short budget: a table printed whole, no warnings, and a policy that improved."""
    pytest.importorskip("paddle")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py"), "--limit", "20000", "--train-steps",
                          "6000", "--seeds", "1", "--logdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")})  # a fresh machine's font cache
    assert out.returncode == 0, out.stderr
    assert "ccache" not in out.stderr and "Warning" not in out.stderr, out.stderr
    assert "fontManager" not in out.stderr + out.stdout, out.stderr  # matplotlib's INFO line on a first run
    lines = out.stdout.splitlines()
    for header in ("| actors |", "| seed | eval return before |"):
        start = next(i for i, line in enumerate(lines) if line.startswith(header))
        table = list(itertools.takewhile(lambda line: line.strip(), lines[start:]))
        assert all(line.startswith("|") for line in table), table  # nothing printed inside a table
    row = [c.strip() for c in table[-1].strip("|").split("|")]
    assert row[0] == "0" and float(row[2]) > 0
    reached = float(row[2]) >= 475
    assert row[3] == ("yes" if reached else "**no**")  # each seed against the bar, said plainly
    assert ("Every seed reached 475" if reached else "Seed 0 did NOT reach 475") in out.stdout
    redraw = next(line for line in lines if line.startswith("Redraw it with: ")).split(": ", 1)[1].split()
    assert os.path.exists(os.path.join(ROOT, redraw[0])) or redraw[0] == sys.executable  # runs without an active venv
    with open(tmp_path / "seed0" / "progress.csv") as f:
        returns = [float(r["episode_return"]) for r in csv.DictReader(f) if r["episode_return"]]
    assert returns[-1] > returns[0] + 30, (returns[0], returns[-1])  # sampled returns: ~15 at first, ~80 at 6k steps
    assert (tmp_path / "curve.png").stat().st_size > 1000 and (tmp_path / "log.log").stat().st_size > 0
