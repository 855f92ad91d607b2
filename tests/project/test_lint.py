"""ruff (pyflakes, pycodestyle, bugbear) over the package, examples, perf and tests."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(name):
    path = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return path


def test_mypy_is_clean():
    """Type-check the whole package."""
    out = subprocess.run([_tool("mypy"), "fastparl"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_is_clean():
    out = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "fastparl", "examples", "perf", "tests"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
