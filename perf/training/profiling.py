"""Where a learner's update step spends its time: the framework's kernels against Python, from cProfile.

Imported by ``perf/training/runner.py`` in either interpreter (paddle's or torch's), as the top-level module
``profiling``.  cProfile gives each C function its own time (``tottime``); a framework's op is a C call
(paddle: ``paddle.base.libpaddle.eager.ops.linear``, ``...pir.ops.adam_``, ``...eager.run_backward``; torch:
``torch._C._nn.linear``, ``torch.relu``, ``Tensor.addcmul_``, ``_EngineBase.run_backward``), so the kernels'
share is the time inside those calls, split by what they do:

- *backward*: ``run_backward`` (autograd's whole backward pass, kernels included);
- *optimizer*: framework ops called from the optimizer's Python (``paddle/optimizer/``, ``torch/optim/``):
  paddle's fused ``adam_``, torch's per-tensor ``mul_``/``addcmul_``/``lerp_``/``sqrt``...;
- *forward and other ops*: every other framework op (linear, relu, losses, casts, the tensors made from the
  numpy batch, target updates);
- *Python*: everything else: the framework's Python wrappers and C glue (dtype checks, hooks), the algorithm's
  and the agent's code, NumPy (the replay memory's sampling), the interpreter.

cProfile adds a fixed cost to every Python call, so the Python share is an upper bound: the profiled ms per
gradient step are given beside the unprofiled rate for that reason.
"""

from __future__ import annotations

import cProfile
import pstats
import re
from typing import Any

__all__ = ["classify"]

_KERNEL = re.compile(
    r"libpaddle\.(eager|pir)\.ops\.|run_backward|of 'Tensor' objects"  # paddle: ops, autograd, C tensor methods
    r"|torch\._C\._nn\.|torch\._C\._linalg\.|of 'torch\._C\.TensorBase' objects|built-in method torch\.(?!_)"
)
_OPTIMIZER_DIRS = ("paddle/optimizer/", "torch/optim/")


def _name(key: tuple[str, int, str]) -> str:
    file, line, func = key
    return func if file == "~" else f"{file.split('site-packages/')[-1].replace('/work/main/', '')}:{line}:{func}"


def classify(profiler: cProfile.Profile, grad_steps: int) -> dict[str, Any]:
    """Shares of the profiled learner time: ``backward``, ``optimizer``, ``forward_ops``, ``python`` (sum 1)."""
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    parts = {"backward": 0.0, "optimizer": 0.0, "forward_ops": 0.0}
    for key, (_cc, _nc, tottime, _ct, callers) in stats.items():
        name = key[2]
        if key[0] != "~" or not _KERNEL.search(name):
            continue
        if "run_backward" in name:
            parts["backward"] += tottime
            continue
        for caller, (_c, _n, tt, _ctt) in callers.items():  # each caller's part of this op's own time
            part = "optimizer" if any(d in caller[0] for d in _OPTIMIZER_DIRS) else "forward_ops"
            parts[part] += tt
    kernels = sum(parts.values())
    shares = {k: v / total for k, v in parts.items()} | {"python": (total - kernels) / total}
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:10]
    return {"grad_steps": grad_steps, "profiled_ms_per_grad": 1e3 * total / grad_steps, "kernel_share": kernels / total,
            "shares": shares, "top": [[_name(k), round(v[2] / total, 4), v[1]] for k, v in top]}
