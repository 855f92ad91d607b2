"""GPU placement check: actors asking ``n_gpu`` get exactly their devices, others none.

    python -m perf.gpu [--out DIR]

Needs a CUDA GPU and PyTorch or paddle (whichever imports) in the actors; without either it says so
and exits 0.  Checks, each printed and written to ``gpu.md``: the GPUs the driver may hand out
(``CUDA_VISIBLE_DEVICES`` or ``nvidia-smi``); an ``n_gpu=1`` actor sees one device and runs a matrix
product on it (TFLOP/s, a sanity figure, not a benchmark); an ``n_gpu=0`` actor sees no GPU; asking
for more GPUs than are free raises ``ResourceError`` naming them; a killed actor's GPU is handed out
again.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import fastparl
from fastparl.errors import ResourceError
from fastparl.remote.resources import visible_gpus
from perf.common.harness import OUT_HELP, SCRATCH


class Probe:
    """What an actor sees of the GPUs, through whichever framework imports."""

    def seen(self) -> dict[str, Any]:
        out: dict[str, Any] = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
        try:
            import torch

            out["framework"] = f"torch {torch.__version__}"
            out["count"] = torch.cuda.device_count()
            out["names"] = [torch.cuda.get_device_name(i) for i in range(out["count"])]
        except ImportError:
            import paddle

            out["framework"] = f"paddle {paddle.__version__}"
            out["count"] = paddle.device.cuda.device_count()
            out["names"] = [paddle.device.cuda.get_device_name(i) for i in range(out["count"])]
        return out

    def matmul_tflops(self, n: int = 8192, reps: int = 10) -> float:
        import torch

        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        for _ in range(3):
            a @ b
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        torch.cuda.synchronize()
        return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def check(rows: list[tuple[str, bool, str]]) -> None:
    """Append a row per check (name, passed, detail)."""
    gpus = visible_gpus()
    rows.append(("driver may hand out", bool(gpus), ", ".join(gpus) or "none"))
    if not gpus:
        return
    On = fastparl.remote_class(n_gpu=1)(Probe)
    Off = fastparl.remote_class(n_gpu=0)(Probe)
    a = On()
    seen = a.seen()
    rows.append(("n_gpu=1 actor sees one GPU", seen["count"] == 1,
                 f"{seen['framework']}: {seen['count']} ({', '.join(seen['names'])}), "
                 f"CUDA_VISIBLE_DEVICES={seen['CUDA_VISIBLE_DEVICES']}"))
    if seen["framework"].startswith("torch") and seen["count"] == 1:
        rows.append(("matrix product on it", True, f"{a.matmul_tflops():.0f} TFLOP/s bf16 8192^3"))
    off = Off().seen()
    rows.append(("n_gpu=0 actor sees none", off["count"] == 0, f"{off['count']} (CUDA_VISIBLE_DEVICES="
                                                               f"{off['CUDA_VISIBLE_DEVICES']!r})"))
    try:
        extra = [On() for _ in range(len(gpus))]  # one more than are free
        rows.append(("over-asking raises ResourceError", False, f"{len(extra)} more actors started"))
    except ResourceError as e:
        rows.append(("over-asking raises ResourceError", True, str(e).split(". ")[0]))
    fastparl.kill(a)
    t = time.perf_counter()
    again = None
    while again is None and time.perf_counter() - t < 15:
        try:
            again = On()
        except ResourceError:
            time.sleep(0.2)
    ok = again is not None and again.seen()["count"] == 1
    rows.append(("a killed actor's GPU is handed out again", ok, f"after {time.perf_counter() - t:.2f} s"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perf.gpu", description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--out", default=SCRATCH, help=OUT_HELP)
    a = ap.parse_args(argv)
    fastparl.connect()
    rows: list[tuple[str, bool, str]] = []
    try:
        check(rows)
    except Exception as e:  # noqa: BLE001 - report what failed beside what passed
        rows.append(("(the next check)", False, f"{type(e).__name__}: {e}"))
    finally:
        fastparl.disconnect()
    lines = ["# GPU placement check (`python -m perf.gpu`)", "", "| check | ok | detail |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {detail} |" for name, ok, detail in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "gpu.md"), "w") as f:
        f.write(text)
    return 0 if all(ok for _, ok, _ in rows[1:]) else 1

