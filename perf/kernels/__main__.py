"""``python -m perf.kernels``."""

from perf.kernels.report import main

main()
