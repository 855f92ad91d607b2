"""``python -m perf.budgets``."""

from perf.budgets.report import main

main()
