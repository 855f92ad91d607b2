"""Ctrl-C at any point of a wait on actors leaves a driver that goes on and ends cleanly.

interrupts_driver.py raises a KeyboardInterrupt at every point where CPython can act on a signal inside each
kind of wait (a future's ``done()`` and ``result()``, ``fastparl.wait`` / ``get``, a blocking call, a call whose
output is printed, a thread waiting while another reads, a timeout), one run per point, and checks after each that
the KeyboardInterrupt came out and the actors still answer; then that ``fastparl.disconnect()`` ends within 20 s,
leaving no process and no shared-memory segment.  A signal acted on just after ``threading.Condition.__enter__``
took the tracker's lock used to leave it held: the actors hung, and so did the driver's exit (found at point 4 of
``future.done()``; every kind of wait failed).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from _drive import driver
from _procs import session_pids

pytestmark = pytest.mark.timeout(200)


def test_ctrl_c_anywhere_in_a_wait_leaves_working_actors_and_a_clean_exit(record_property):
    with driver("all", program="interrupts_driver.py") as proc:
        try:
            out, err = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired as e:  # (the block kills it and all it started)
            pytest.fail(f"the driver did not end within 150 s; it printed:\n{e.output}\n{e.stderr}")
        assert session_pids(proc.pid) == [], "processes of the driver's session outlived it"
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    *waits, shutdown = results or [{}]
    assert waits and "shutdown" in shutdown, out + err
    for w in waits:
        record_property(f"points {w['wait']}", w["points"])
        record_property(f"not_raisable {w['wait']}", w["not_raisable"])
    failures = [f"{w['wait']}: {f}" for w in waits for f in w["failures"]]
    assert failures == [], "\n".join(failures)
    assert min(w["points"] for w in waits) >= 10, waits  # the waits did run through the traced code
    assert shutdown["shutdown"], f"fastparl.disconnect() did not end within 20 s: {shutdown}"
    assert shutdown["processes_left"] == [] and shutdown["segments_left"] <= 0, shutdown
    assert proc.returncode == 0, err[-3000:]
