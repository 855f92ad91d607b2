"""Worker daemons on loopback ports standing in for hosts (started and ended by pid)."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class WorkerProc:
    """One ``fastparl worker`` subprocess; ``host_id`` makes it look like another host."""

    def __init__(self, token_file: str, cpus: int = 16, host_id: str | None = "test-host", gpus: str | None = None,
                 port: int = 0, log_dir: str = "/tmp", extra: tuple[str, ...] = ()):
        path = os.environ.get("PYTHONPATH")  # kept behind the repo: it may hold the interpreter's packages
        env = dict(os.environ, FASTPARL_TOKEN_FILE=token_file, PYTHONPATH=ROOT + (os.pathsep + path if path else ""))
        env.pop("FASTPARL_TOKEN", None)
        if host_id:
            env["FASTPARL_HOST_ID"] = host_id
        else:
            env.pop("FASTPARL_HOST_ID", None)
        self.log = os.path.join(log_dir, f"worker-{os.getpid()}-{time.monotonic_ns()}.log")
        cmd = [sys.executable, "-m", "fastparl", "worker", "--port", str(port), "--cpus", str(cpus),
               "--log-file", self.log]
        if gpus is not None:
            cmd += ["--gpus", gpus]
        cmd += list(extra)
        with open(self.log + ".err", "w") as err:  # a test's worker dies with the test process, however it ends
            self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_die_with_parent)
        self.port = self._wait_port()
        self.address = f"127.0.0.1:{self.port}"

    def _wait_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log + ".err") as f:
                m = re.search(r"fastparl worker on [\d.]+:(\d+)", f.read())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                with open(self.log + ".err") as f:
                    raise RuntimeError(f"worker exited with {self.proc.returncode} before listening:\n{f.read()}")
            time.sleep(0.02)
        raise RuntimeError("worker did not start in time")

    def output(self) -> str:
        with open(self.log + ".err") as f:
            return f.read()

    def pids(self) -> list[int]:
        """The daemon and everything below it (fork server, actors)."""
        try:
            p = psutil.Process(self.proc.pid)
            return [p.pid, *(c.pid for c in p.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
