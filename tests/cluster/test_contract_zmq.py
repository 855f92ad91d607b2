"""The contract suite (tests/contract) on the ZeroMQ backend, with actors on two loopback workers that
stand in for other hosts: every test of it that takes the ``backend`` fixture runs here too."""

import inspect

from contract import test_contract as _contract

for _name, _fn in vars(_contract).items():
    if _name.startswith("test_") and callable(_fn) and "backend" in inspect.signature(_fn).parameters:
        globals()[_name] = _fn
