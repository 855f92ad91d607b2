"""PARL's ``parl.utils.machine_info``: GPUs, the host's IP address and free ports.

Nothing here imports paddle at import time; :func:`is_gpu_available` and :func:`is_xpu_available`
ask paddle (if it is installed) what it can see when they are called.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess

from fastparl.utils import logger

__all__ = ["get_free_tcp_port", "get_gpu_count", "get_ip_address", "get_port_from_range", "is_gpu_available",
           "is_port_available", "is_xpu_available"]


def get_ip_address() -> str | None:
    """The IP address other hosts can reach this one at, or None (with a warning) if only loopback is found."""
    local_ip = None
    try:  # the address of the interface that routes outwards (a UDP "connect" sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("8.8.8.8", 80))
            local_ip = s.getsockname()[0]
    except OSError:
        try:
            local_ip = socket.gethostbyname(socket.gethostname())
        except OSError:
            pass
    if local_ip is None or local_ip.startswith("127."):
        logger.warning("get_ip_address failed, please set ip address manually.")
        return None
    return local_ip


def _count_cuda_visible(value: str) -> int:
    """Devices named in a ``CUDA_VISIBLE_DEVICES`` value; CUDA ignores everything from the first invalid one."""
    count = 0
    for entry in value.split(","):
        entry = entry.strip()
        if entry.startswith(("GPU-", "MIG-")) or (entry.isdigit() and int(entry) >= 0):
            count += 1
        else:
            break
    return count


def get_gpu_count() -> int:
    """Number of GPUs this process may use: those in ``CUDA_VISIBLE_DEVICES`` if it is set (empty: none),
    else those ``nvidia-smi -L`` lists (0 without it)."""
    env_cuda_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env_cuda_devices is not None:
        return _count_cuda_visible(env_cuda_devices)
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):  # no driver: no GPU
        return 0
    return out.count("UUID")


def _has_paddle() -> bool:
    from fastparl.utils.utils import _installed

    return _installed("paddle")


def is_gpu_available() -> bool:
    """Whether a GPU can be used: :func:`get_gpu_count` > 0 and, when paddle is installed, paddle is built
    with CUDA and sees a device (paddle is imported by this call, not before)."""
    if get_gpu_count() == 0:
        return False
    if _has_paddle():
        from fastparl.core import import_paddle  # imports paddle

        paddle = import_paddle()
        if not paddle.is_compiled_with_cuda():
            logger.warning("Found GPUs (CUDA_VISIBLE_DEVICES or nvidia-smi), but paddle was not compiled with "
                           "CUDA, so fastparl will not use a GPU: pip install paddlepaddle-gpu")
            return False
        if paddle.device.cuda.device_count() == 0:
            logger.warning("Found GPUs (CUDA_VISIBLE_DEVICES or nvidia-smi), but paddle sees none; check the "
                           "CUDA driver and CUDA_VISIBLE_DEVICES")
            return False
    return True


def is_xpu_available() -> bool:
    """Whether a Kunlun XPU is selected (``FLAGS_selected_xpus``) and paddle is compiled with XPU support."""
    try:
        xpu = int(os.getenv("FLAGS_selected_xpus", "-1"))
    except ValueError:
        return False
    if xpu < 0 or not _has_paddle():
        return False
    from fastparl.core import import_paddle

    if not import_paddle().is_compiled_with_xpu():
        logger.warning("Found FLAGS_selected_xpus, but paddle was not compiled with XPU; not using XPU.")
        return False
    return True


def get_free_tcp_port() -> str:
    """A TCP port that is free right now, as a string (as PARL returns it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("", 0))
        return str(tcp.getsockname()[1])


def is_port_available(port: int | str) -> bool:
    """True if nothing accepts connections on ``localhost:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("localhost", int(port))) != 0


def get_port_from_range(start: int, end: int) -> int:
    """A random port in ``[start, end]`` on which nothing listens.

    Raises:
        ValueError: if ``start > end``.
    """
    if start > end:
        raise ValueError(f"get_port_from_range: start={start} must be <= end={end}")
    while True:
        port = random.randint(start, end)
        if is_port_available(port):
            return port
