"""``python -m perf.mujoco``."""

import sys

from perf.mujoco.runs import main

sys.exit(main())
