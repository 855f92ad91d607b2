"""fastparl's performance reports: one package per report (``python -m perf.<report>``) over
:mod:`perf.common`; see perf/README.md."""
