"""``python -m perf.chaos``."""

from perf.chaos.report import main

main()
