"""``python -m perf.rl``."""

from perf.rl.report import main

main()
