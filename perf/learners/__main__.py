"""``python -m perf.learners``."""

from perf.learners.report import main

main()
