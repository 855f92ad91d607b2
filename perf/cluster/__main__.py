"""``python -m perf.cluster``."""

from perf.cluster.report import main

main()
