"""``python -m perf.mujoco``: the mid-scale MuJoCo reproduction runs (a resumable run list, see runs.py)."""
