"""``python -m perf.reliability``."""

import sys

from perf.reliability.report import main

sys.exit(main())
