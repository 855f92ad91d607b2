"""``python -m perf.gpu``."""

import sys

from perf.gpu.report import main

sys.exit(main())
