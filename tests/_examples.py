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
