"""Record the signatures of PARL's public names from PARL's source (parsed with ``ast``; PARL is not installed).

Writes ``parl_signatures.json`` next to this file, which ``test_signatures.py`` checks fastparl against.
Run it again when moving to a newer PARL:

    git clone https://github.com/PaddlePaddle/PARL /tmp/PARL
    python tests/compat/record_parl_signatures.py /tmp/PARL            # a checkout
    python tests/compat/record_parl_signatures.py /path/to/PARL.git    # or a bare git dir (reads HEAD)
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

# PARL source file -> the fastparl name its public classes and functions are reached by ({name} = the
# class or function).  Only names PARL code uses through ``parl.*`` are listed.
SOURCES = {
    "parl/remote/remote_decorator.py": "fastparl.{name}",
    "parl/remote/client.py": "fastparl.{name}",
    "parl/core/paddle/model.py": "fastparl.{name}",
    "parl/core/paddle/algorithm.py": "fastparl.{name}",
    "parl/core/paddle/agent.py": "fastparl.{name}",
    "parl/algorithms/paddle/policy_gradient.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/dqn.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/ddqn.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/a2c.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/ppo.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/ddpg.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/td3.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/sac.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/maddpg.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/impala/impala.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/oac.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/cql.py": "fastparl.algorithms.{name}",
    "parl/algorithms/paddle/qmix.py": "fastparl.algorithms.{name}",
    "parl/utils/replay_memory.py": "fastparl.utils.replay_memory.{name}",
    "parl/utils/machine_info.py": "fastparl.utils.machine_info.{name}",
    "parl/utils/rl_utils.py": "fastparl.utils.rl_utils.{name}",
    "parl/utils/np_utils.py": "fastparl.utils.np_utils.{name}",
    "parl/utils/path_utils.py": "fastparl.utils.path_utils.{name}",
    "parl/utils/time_stat.py": "fastparl.utils.time_stat.{name}",
    "parl/utils/window_stat.py": "fastparl.utils.window_stat.{name}",
    "parl/utils/scheduler.py": "fastparl.utils.scheduler.{name}",
    "parl/utils/csv_logger.py": "fastparl.utils.csv_logger.{name}",
    "parl/utils/globvars.py": "fastparl.utils.globvars.{name}",
    "parl/utils/logger.py": "fastparl.utils.logger.{name}",
    "parl/utils/utils.py": "fastparl.utils.utils.{name}",
    "parl/env/compat_wrappers.py": "fastparl.env.compat_wrappers.{name}",
    "parl/env/continuous_wrappers.py": "fastparl.env.continuous_wrappers.{name}",
    "parl/env/vector_env.py": "fastparl.env.vector_env.{name}",
    "parl/env/mujoco_wrappers.py": "fastparl.env.mujoco_wrappers.{name}",
    "parl/env/atari_wrappers.py": "fastparl.env.atari_wrappers.{name}",
    "parl/env/multiagent_env.py": "fastparl.env.multiagent_env.{name}",
}
# Only these names from the files above (PARL's __all__ where it has one, plus a few module-level helpers).
SKIP = {"parl/utils/utils.py": {"check_installed_framework", "check_installed_framework_in_windows"},
        "parl/remote/client.py": {"Client", "disconnect", "get_global_client"},
        "parl/algorithms/paddle/impala/impala.py": {"VTraceLoss"}}  # internal to IMPALA
KEEP_ONLY = {"parl/remote/client.py": {"connect"}, "parl/remote/remote_decorator.py": {"remote_class"}}


def _read(parl: str, path: str) -> str:
    if os.path.isdir(os.path.join(parl, "parl")):
        with open(os.path.join(parl, path), encoding="utf-8") as f:
            return f.read()
    return subprocess.run(["git", f"--git-dir={parl}", "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _params(fn: ast.FunctionDef) -> list[str]:
    """The parameters as written in Python: ``["self", "gamma=None", "*", "key=1", "**kwargs"]``
    (``/`` ends positional-only ones, a bare ``*`` starts keyword-only ones)."""
    a = fn.args
    out: list[str] = []
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        out.append(arg.arg if default is None else f"{arg.arg}={ast.unparse(default)}")
        if a.posonlyargs and i == len(a.posonlyargs) - 1:
            out.append("/")
    if a.vararg:
        out.append(f"*{a.vararg.arg}")
    elif a.kwonlyargs:
        out.append("*")
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults):
        out.append(arg.arg if kw_default is None else f"{arg.arg}={ast.unparse(kw_default)}")
    if a.kwarg:
        out.append(f"**{a.kwarg.arg}")
    return out


def record(parl: str) -> dict[str, list]:
    """``{"parl name": [fastparl dotted name, [params]]}`` for every public function and method."""
    out: dict[str, list] = {}
    for path, target in SOURCES.items():
        tree = ast.parse(_read(parl, path))
        parl_module = path[:-3].replace("/", ".")
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            if node.name in SKIP.get(path, ()) or (path in KEEP_ONLY and node.name not in KEEP_ONLY[path]):
                continue
            base = target.format(name=node.name)
            if isinstance(node, ast.FunctionDef):
                out[f"{parl_module}.{node.name}"] = [base, _params(node)]
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (item.name == "__init__" or not item.name.startswith("_")):
                    if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                        continue
                    out[f"{parl_module}.{node.name}.{item.name}"] = [f"{base}.{item.name}", _params(item)]
    return out


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    data = record(sys.argv[1])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parl_signatures.json")
    with open(path, "w", encoding="utf-8") as f:  # one entry per line: small, and diffs read well
        f.write("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(data[k])}" for k in sorted(data)) + "\n}\n")
    print(f"{len(data)} signatures -> {path}")


if __name__ == "__main__":
    main()
