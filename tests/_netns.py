"""Separate network hosts on this machine: Linux network namespaces joined to the test by veth pairs.

Each :class:`NetHost` has its own network stack and IP address (``10.213.k.2``, the test's end of
its link being ``10.213.k.1``), hostname (UTS namespace), ``/dev/shm`` and ``/tmp`` (a mount namespace
with fresh tmpfs), and runs ``fastparl worker --host 10.213.k.2`` inside.  A partition is the link
set down: packets stop, nothing closes, as when a cable is pulled or a switch fails.  Needs root
(or CAP_NET_ADMIN + CAP_SYS_ADMIN), ``ip`` and ``unshare``; :func:`available` says why not otherwise.
Every namespace, veth and process is removed by :meth:`NetHost.close`.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 8037  # every host has its own port space: the same port everywhere, as on real hosts
_counter = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def available() -> str | None:
    """None if namespace hosts can be made here, else the reason they cannot."""
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if not shutil.which("ip") or not shutil.which("unshare"):
        return "`ip` (iproute2) and `unshare` (util-linux) are needed"
    probe = f"fpprobe{os.getpid()}"
    try:
        r = _ip("netns", "add", probe, check=False)
        if r.returncode:
            return f"cannot create a network namespace (needs root or CAP_NET_ADMIN + CAP_SYS_ADMIN): {r.stderr.strip()}"
        r = subprocess.run(["ip", "netns", "exec", probe, "unshare", "--uts", "--mount", "true"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode:
            return f"cannot create UTS/mount namespaces: {r.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


def _private_tmp() -> str:
    """Shell commands giving the host a /tmp of its own, in which the folders of this checkout and of the
    interpreter stay visible when they live under /tmp (a CI clone, a venv there): the old /tmp is kept
    at /mnt while the new one is mounted, and those folders are bound back into it."""
    keep = set()
    for path in (ROOT, sys.prefix, sys.base_prefix, os.path.realpath(sys.executable),
                 *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)):
        real = os.path.realpath(path)
        if real.startswith("/tmp/"):
            keep.add("/tmp/" + real.split("/")[2])
    if not keep:
        return "mount -t tmpfs tmpfs /tmp"
    binds = " && ".join(f"mkdir -p {d} && mount --bind /mnt/{d[5:]} {d}" for d in sorted(keep))
    return f"mount --rbind /tmp /mnt && mount -t tmpfs tmpfs /tmp && {binds}"


class NetHost:
    """One namespace host.  ``start_worker`` may be called again after the worker ended (a restart)."""

    def __init__(self, token: str, log_dir: str):
        k = (os.getpid() % 50) * 4 + next(_counter) % 4 + 20  # /30 subnets, distinct per test process
        self.name = f"fp{os.getpid()}h{k}"
        self.veth = f"fpv{os.getpid() % 100000}k{k}"[:15]
        self.host_ip, self.ip = f"10.213.{k}.1", f"10.213.{k}.2"
        self.address = f"{self.ip}:{PORT}"
        self.token = token
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.log = ""
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.veth)
            _ip("link", "set", self.veth, "up")
            for cmd in (["addr", "add", f"{self.ip}/30", "dev", "eth0"], ["link", "set", "eth0", "up"],
                        ["link", "set", "lo", "up"]):
                _ip("netns", "exec", self.name, "ip", *cmd)
        except BaseException:
            self.close()
            raise

    def start_worker(self, cpus: int = 2, env: dict[str, str] | None = None) -> None:
        self.log = os.path.join(self.log_dir, f"{self.name}-{time.monotonic_ns()}.log")
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, **(env or {}), FASTPARL_TOKEN=self.token,
                   PYTHONPATH=ROOT + (os.pathsep + path if path else ""))
        env.pop("FASTPARL_TOKEN_FILE", None)
        env.pop("FASTPARL_HOST_ID", None)  # its own hostname and boot id: another host
        inner = (f"hostname {self.name} && mount -t tmpfs tmpfs /dev/shm && {_private_tmp()} && "
                 f"exec {sys.executable} -m fastparl worker --host {self.ip} --port {PORT} --cpus {cpus} "
                 "--log-file /dev/null")
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.name, "unshare", "--uts", "--mount", "--propagation", "private",
                 "--fork", "--kill-child=SIGKILL", "sh", "-c", inner],
                env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 60
        while not re.search(r"fastparl worker on ", self.output()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker in {self.name} did not start:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        with open(self.log) as f:
            return f.read()

    def pids(self) -> list[int]:
        """Every process in the namespace (the worker, its fork server, actors)."""
        r = _ip("netns", "pids", self.name, check=False)
        return [int(p) for p in r.stdout.split()]

    def worker_pid(self) -> int:
        """The daemon's pid: the ``fastparl worker`` whose parent is not one (its fork server and actors
        inherit its command line)."""
        def is_worker(pid: int) -> bool:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    return b"fastparl\0worker" in f.read()
            except OSError:
                return False

        for pid in self.pids():
            try:
                ppid = psutil.Process(pid).ppid()
            except psutil.Error:
                continue
            if is_worker(pid) and not is_worker(ppid):
                return pid
        raise RuntimeError(f"no worker runs in {self.name}")

    def partition(self) -> None:
        _ip("link", "set", self.veth, "down")

    def heal(self) -> None:
        _ip("link", "set", self.veth, "up")

    def kill_all(self) -> None:
        """Every process of the host, at once (with the link down first, nothing says goodbye)."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.kill_all()
        _ip("netns", "del", self.name, check=False)  # takes the veth pair with it
        _ip("link", "del", self.veth, check=False)
