"""``python -m perf.runtime``."""

from perf.runtime.report import main

main()
