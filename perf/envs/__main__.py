"""``python -m perf.envs``."""

from perf.envs.report import main

main()
