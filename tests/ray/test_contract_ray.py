"""The contract suite (tests/contract) on the Ray backend: every test of it that takes the ``backend``
fixture runs here too, on Ray actors of the local Ray instance of conftest.py.

One is replaced: Ray reports a killed actor's death without the signal that killed it (its raylet
sees the connection drop), so the check that the error names SIGKILL becomes
``test_ray.test_pending_futures_fail_promptly_when_a_ray_actor_dies``.
"""

import inspect

from contract import test_contract as _contract

_REPLACED = {"test_pending_futures_fail_promptly_when_the_actor_dies"}

for _name, _fn in vars(_contract).items():
    if (_name.startswith("test_") and _name not in _REPLACED and callable(_fn)
            and "backend" in inspect.signature(_fn).parameters):
        globals()[_name] = _fn
