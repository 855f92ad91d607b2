"""``python -m perf.training``."""

from perf.training.report import main

main()
