"""Load examples/<name>/train.py as a module, for the learning and reproduction tests."""

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANDOM_RETURN = 22.0  # mean return of uniformly random actions on CartPole-v1


def load_example(name: str):
    """Import examples/<name>/train.py as the module ``fastparl_example_<name>``."""
    path = os.path.join(ROOT, "examples", name, "train.py")
    spec = importlib.util.spec_from_file_location(f"fastparl_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SEEDS = (0, 1, 2)


def repro_logroot(tmp_path_factory, name: str) -> str:
    """Where a reproduction run logs: ``$FASTPARL_REPRO_DIR/<name>`` to keep the curves, else a temp dir."""
    root = os.environ.get("FASTPARL_REPRO_DIR")
    return os.path.join(root, name) if root else str(tmp_path_factory.mktemp(name))


def run_seeds(mod, name: str, root: str, **kwargs) -> list[dict[str, float]]:
    """Train ``mod`` (a loaded example) once per seed in :data:`SEEDS`; print and return the results."""
    import json

    results = [mod.train(mod.Args(seed=s, logdir=f"{root}/seed{s}", tensorboard=False, **kwargs)) for s in SEEDS]
    print(f"REPRO {name}", json.dumps(results))
    return results
