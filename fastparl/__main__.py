"""``python -m fastparl ...``: the same as the ``fastparl`` command."""

from __future__ import annotations

import sys

from fastparl.cli import main

if __name__ == "__main__":
    sys.exit(main())
