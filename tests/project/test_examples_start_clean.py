"""Examples start without paddle's noise and with its AMD setting: fastparl is imported before paddle.

``import fastparl`` sets ``MKL_DEBUG_CPU_TYPE=5`` (paddle's MKL takes a 2-6x slower path on AMD CPUs
without it) and silences paddle's "No ccache found" warning; both must happen before paddle loads.
"""

import ast
import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "train.py")))


def _first_line(tree: ast.Module, top: str) -> int | None:
    lines = [n.lineno for n in tree.body if isinstance(n, ast.Import) and any(a.name.split(".")[0] == top for a in n.names)]
    lines += [n.lineno for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == top]
    return min(lines) if lines else None


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_each_example_imports_fastparl_before_paddle(script):
    tree = ast.parse(open(script).read())
    paddle, fastparl = _first_line(tree, "paddle"), _first_line(tree, "fastparl")
    assert fastparl is not None
    assert paddle is None or fastparl < paddle, f"line {paddle} imports paddle before fastparl (line {fastparl})"


def test_an_example_help_prints_no_warning():
    pytest.importorskip("paddle")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "DQN", "train.py"), "--help"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr
    assert "ccache" not in out.stderr and "Warning" not in out.stderr, out.stderr
