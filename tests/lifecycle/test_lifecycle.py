"""Nothing outlives a run: normal exit, exception, Ctrl-C, a killed actor, a killed driver."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from _procs import still_alive  # tests/ is on sys.path (conftest.py)

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = pytest.mark.timeout(120)


def _shm():
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def _start(mode, **kw):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "driver.py"), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)
    info = json.loads(proc.stdout.readline())
    return proc, info


def _finish(proc):
    # Not communicate(): it would skip what readline() already buffered in proc.stdout.
    out = proc.stdout.read()
    err = proc.stderr.read()  # small: the driver cannot block on a full stderr pipe before stdout's EOF
    return proc.wait(timeout=60), out, err


@pytest.fixture
def no_leaks():
    before = _shm()
    yield
    assert _shm() - before == set(), "shared-memory segments left in /dev/shm"


@pytest.mark.parametrize("mode,code", [("normal", 0), ("exception", 1)])
def test_exit_leaves_nothing(mode, code, no_leaks):
    proc, info = _start(mode)
    rc, out, err = _finish(proc)
    assert rc == code, err
    if mode == "exception":
        assert "the driver fails" in err
    assert still_alive([info["server"], *info["actors"]]) == []


def test_ctrl_c_to_the_process_group(no_leaks):
    proc, info = _start("sigint", start_new_session=True)
    assert proc.stdout.readline().strip() == "busy"
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: every process in the group gets it
    rc, out, err = _finish(proc)
    assert rc != 0 and "KeyboardInterrupt" in err
    assert still_alive([info["server"], *info["actors"]]) == []


def test_sigkill_of_the_driver(no_leaks):
    proc, info = _start("sigkill-driver")
    assert proc.stdout.readline().strip() == "busy"
    proc.kill()
    proc.wait()
    assert still_alive([info["server"], *info["actors"]]) == []


def test_sigkill_of_an_actor_is_reported(no_leaks):
    proc, info = _start("kill-actor")
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "DIED: -9" in out and "SIGKILL" in out
    assert "others: 2 3" in out
    assert still_alive([info["server"], *info["actors"]]) == []


def test_actor_exit_reports_code_and_stderr(no_leaks):
    proc, info = _start("actor-exit")
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "DIED: 7 | about to die" in out
    assert "others: 2" in out


def test_actor_output_is_forwarded_with_a_prefix():
    proc, info = _start("output")
    rc, out, err = _finish(proc)
    pid = info["actors"][1]
    assert f"(Plain pid={pid}) hello from the actor" in out
    assert f"(Plain pid={pid}) err:hello from the actor" in err


def test_max_memory_stops_the_actor_and_spares_the_driver(no_leaks):
    proc, info = _start("max-memory")
    rc, out, err = _finish(proc)
    assert rc == 0, err
    assert "RESOURCE:" in out and "max_memory=150" in out, out
    assert "others: 2" in out


def test_runtime_never_imports_paddle():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == 'paddle' or name.startswith('paddle.'):
            raise ImportError('paddle is blocked')
sys.meta_path.insert(0, Block())
import fastparl, numpy as np
sys.path.insert(0, %r)
from _actors import RemotePlain
p = RemotePlain()
assert p.total(np.ones(10)) == 10.0
print('paddle' in sys.modules, p.env('MKL_DEBUG_CPU_TYPE'))
""" % os.path.dirname(HERE)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "5"]
