"""fastparl.remote.system.processes: raising the soft limit on open descriptors."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

import pytest

from fastparl.remote.system import processes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_raise_fd_limit_lifts_a_low_soft_limit_to_the_hard_limit():
    """soft 256 < hard: the soft limit rises to the hard limit, for real (a child process, whose limits
    we may lower without touching the test run's)."""
    hard_now = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard = 4096 if hard_now == resource.RLIM_INFINITY or hard_now >= 4096 else hard_now
    if hard <= 256:
        pytest.skip(f"the hard limit on descriptors is only {hard_now}")
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, {hard}))
        from fastparl.remote.system.processes import raise_fd_limit
        print(raise_fd_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [f"({hard},", f"{hard})", f"({hard},", f"{hard})"]


def test_raise_fd_limit_with_an_unlimited_hard_limit(monkeypatch):
    calls = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, resource.RLIM_INFINITY))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: calls.append((which, limits)))
    assert processes.raise_fd_limit() == (1 << 20, resource.RLIM_INFINITY)
    assert calls == [(resource.RLIMIT_NOFILE, (1 << 20, resource.RLIM_INFINITY))]


def test_raise_fd_limit_keeps_the_soft_limit_when_the_os_refuses(monkeypatch):
    def refuse(which, limits):
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "getrlimit", lambda which: (256, 4096))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    assert processes.raise_fd_limit() == (256, 4096)
