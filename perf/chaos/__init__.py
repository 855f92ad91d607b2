"""``python -m perf.chaos``: A2C trains through host faults on namespace hosts (see report.py)."""
