"""Where a learner group meets: ranks, world size, the rendezvous address, and each rank's device.

The backend in use supplies them (``fastparl.remote``'s backend interface): the rendezvous address
from :meth:`Backend.rendezvous` (on the local backend a free TCP port on 127.0.0.1) and the GPUs
from :meth:`Backend.gpus` (those ``CUDA_VISIBLE_DEVICES`` lists, or ``nvidia-smi`` finds); this
module turns them into one :class:`Rendezvous` per rank.

What paddle needs (found by experiment with paddle 3.3): ``paddle.distributed.init_parallel_env()``
reads ``PADDLE_TRAINER_ID`` (rank), ``PADDLE_TRAINERS_NUM`` (world size), ``PADDLE_CURRENT_ENDPOINT``
and ``PADDLE_TRAINER_ENDPOINTS`` (they must be set, but the process-group path used here binds only
the master's port), ``MASTER_ADDR``/``MASTER_PORT`` (rank 0 serves paddle's TCP store there, the others
connect to it) and ``PADDLE_DISTRI_BACKEND``: ``gloo`` on CPU (without it a CPU wheel takes an older
path that starts a ``multiprocessing.Manager`` server process), ``nccl`` on GPUs, which also need
``FLAGS_selected_gpus``.  With a world size of 1 it does nothing, so a single learner skips it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable

import psutil

__all__ = ["Rendezvous", "plan", "free_port", "visible_gpu_count", "wait_listening"]

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Rendezvous:
    """What one learner needs to join its group.

    Attributes:
        rank: this learner's rank, ``0 <= rank < world_size``; rank 0 serves the rendezvous.
        world_size: number of learners in the group.
        master_addr: host of rank 0's TCP store.
        master_port: port of rank 0's TCP store.
        backend: ``"gloo"`` (CPU tensors) or ``"nccl"`` (GPU tensors).
        n_gpu: GPUs this learner's actor asks for (0 or 1); with 1 it trains on ``gpu:0``, the device
            the runtime exposed to it through ``CUDA_VISIBLE_DEVICES``.
    """

    rank: int
    world_size: int
    master_addr: str
    master_port: int
    backend: str
    n_gpu: int

    @property
    def device(self) -> str:
        """The paddle device string of this learner: ``"gpu:0"`` or ``"cpu"``."""
        return "gpu:0" if self.n_gpu else "cpu"

    def environ(self) -> dict[str, str]:
        """The environment variables ``paddle.distributed.init_parallel_env`` reads for this rank."""
        endpoints = [f"{self.master_addr}:{self.master_port + r}" for r in range(self.world_size)]
        env = {
            "PADDLE_TRAINER_ID": str(self.rank),
            "PADDLE_TRAINERS_NUM": str(self.world_size),
            "PADDLE_TRAINER_ENDPOINTS": ",".join(endpoints),
            "PADDLE_CURRENT_ENDPOINT": endpoints[self.rank],
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
            "PADDLE_DISTRI_BACKEND": self.backend,
        }
        if self.n_gpu:
            env["FLAGS_selected_gpus"] = "0"  # the actor sees only its own GPU, as device 0
        return env


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` now (the OS picks it; another process could still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def visible_gpu_count() -> int:
    """GPUs the current backend may hand out (``n_gpu=``): the runtime's own rule, through its interface."""
    from fastparl.remote import current_backend

    return len(current_backend().gpus())


def plan(num_learners: int, use_gpu: bool | None = None) -> list[Rendezvous]:
    """Ranks, rendezvous address and devices for a group of ``num_learners`` learners (from the backend).

    Args:
        num_learners: the world size k, >= 1.
        use_gpu: one GPU per learner (NCCL) if True, CPU learners (gloo) if False; None (default) uses
            GPUs when at least one is visible.

    Returns:
        One :class:`Rendezvous` per rank, rank 0 first.

    Raises:
        ValueError: if ``num_learners`` < 1, or GPUs are asked for and fewer than ``num_learners`` are
            visible (NCCL needs one device per rank).
    """
    if isinstance(num_learners, bool) or not isinstance(num_learners, int) or num_learners < 1:
        raise ValueError(f"a learner group needs num_learners >= 1 (an int), got {num_learners!r}")
    gpus = visible_gpu_count()
    if use_gpu is None:
        use_gpu = gpus > 0
    if use_gpu and gpus < num_learners:
        raise ValueError(f"{num_learners} GPU learners need {num_learners} GPUs (NCCL uses one device per rank), "
                         f"but {gpus} are visible; use fewer learners, or use_gpu=False for CPU learners (gloo)")
    from fastparl.remote import current_backend

    addr, port = current_backend().rendezvous(num_learners)
    backend, n_gpu = ("nccl", 1) if use_gpu else ("gloo", 0)
    return [Rendezvous(rank, num_learners, addr, port, backend, n_gpu) for rank in range(num_learners)]


def wait_listening(port: int, timeout: float, failed: Callable[[], bool] = lambda: False) -> bool:
    """Wait until a local socket listens on TCP ``port`` (rank 0's store is up), without connecting to it.

    paddle's TCP store clients retry every 3 s when the store is not up yet; starting the other ranks
    once it listens saves that wait.  Polls the kernel's socket table (psutil), so the store never
    sees a stray connection.

    Args:
        port: the rendezvous port.
        timeout: seconds to wait at most.
        failed: called between polls; True stops the wait (e.g. rank 0 raised).

    Returns:
        True once the port listens, False on timeout or when ``failed()`` says so.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while time.monotonic() < deadline and not failed():
        try:
            conns = psutil.net_connections(kind="tcp")
        except (psutil.AccessDenied, OSError):  # pragma: no cover - restricted /proc: let paddle retry
            return False
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns):
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return False
