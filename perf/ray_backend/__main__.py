"""``python -m perf.ray_backend``."""

from perf.ray_backend.report import main

main()
