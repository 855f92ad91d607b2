"""The reliability report (``python -m perf.reliability``, :mod:`perf.reliability.report`): the fault suite's
cases and the soak curves.  The soak itself is :mod:`perf.reliability.soak`; ``tests/reliability/test_soak.py``
runs a short one through :func:`soak` and checks it against :data:`BOUNDS`.

Only the soak is imported here: the soak's actor imports this package to find its class.
"""

from perf.reliability.soak import BOUNDS, growth, over_bounds, soak

__all__ = ["BOUNDS", "growth", "over_bounds", "soak"]
