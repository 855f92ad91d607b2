"""Actors' output at the driver (issue 17 §4): progress bars at a display rate, what an actor wrote before a
method returned printed before the call returns, and output kept off the terminal in per-actor log files
(``log_to_driver="file"``, read with ``fastparl logs``), with one note when an actor floods the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

import fastparl
from fastparl.cli import main as cli
from fastparl.remote.local.forkserver import STDOUT, STDOUT_EOF
from fastparl.remote.local.monitor import Monitor

pytestmark = pytest.mark.timeout(120)


class Talker:
    def lines(self, n: int, tag: str = "line", err: bool = False) -> int:
        out = sys.stderr if err else sys.stdout
        for i in range(n):
            print(f"{tag} {i}", file=out)
        return n

    def bar(self, n: int, width: int = 40) -> int:
        for i in range(n):
            sys.stdout.write(f"{i:>{width - 1}}\r")
        sys.stdout.flush()
        return n

    def tqdm_like(self, n: int) -> int:
        for i in range(n + 1):
            sys.stderr.write(f"\r{i}/{n}")
            sys.stderr.flush()
        sys.stderr.write("\n")
        return n

    def noop(self) -> None:
        return None

    def pid(self) -> int:
        return os.getpid()


RemoteTalker = fastparl.remote_class(Talker)


@pytest.fixture
def local():
    fastparl.disconnect()
    fastparl.connect("local")
    yield
    fastparl.disconnect()


# ------------------------------------------------------------------ progress bars
def test_monitor_shows_the_latest_carriage_return_update_at_a_display_rate(capfd):
    m = Monitor(-1, receives=True)
    try:
        m.add_actor(None, 7, "(Bar pid=7) ", None)
        chunk = b"".join(b"%8d\r" % i for i in range(5000))
        for _ in range(40):  # 200,000 updates in one burst, far under 0.1 s apart
            m.record(7, STDOUT, chunk)
        m.record(7, STDOUT, b"done\n" + b"".join(b"plain %d\n" % i for i in range(500)))
        m.record(7, STDOUT, b"a\rb\rfinal\n")  # a line's final state is always shown
        m.record(7, STDOUT, b"open\r")
        m.record(7, STDOUT_EOF, b"")  # the end of the stream shows the last update of an open line
    finally:
        m.stop(0.1)
    out = capfd.readouterr().out
    shown = out.count("(Bar pid=7) ")
    assert out.count("\r") <= 3, out[:500]  # the first update, and at most a timer's flush or two
    assert all(f"(Bar pid=7) plain {i}\n" in out for i in range(500))  # lines are never dropped
    assert "(Bar pid=7) done\n" in out and "(Bar pid=7) final\n" in out and "(Bar pid=7) open\n" in out
    assert shown <= 500 + 3 + 3 + 3


def test_a_progress_bar_reaches_the_terminal_at_a_display_rate(local, capfd):
    t = RemoteTalker()
    start = time.monotonic()
    assert t.bar(200_000) == 200_000  # 8 MB of "\r" updates
    took = time.monotonic() - start
    print("MARK", flush=True)
    assert t.tqdm_like(50_000) == 50_000
    print("MARK2", flush=True)
    out, err = capfd.readouterr()
    before = out.split("MARK\n")[0]
    updates = before.count("\r")
    assert updates <= took / 0.1 + 3, (updates, took)  # ~10 a second, not 200,000
    assert f"{199_999:>39}\r" in before  # its final state, shown before the call returned
    assert "50000/50000\n" in err and err.count("/50000") <= 50  # tqdm-style: "\r" first, "\n" at the end


# ------------------------------------------------------------------ ordering
def test_what_an_actor_wrote_before_returning_comes_before_the_driver_s_next_print(local, capfd):
    t = RemoteTalker()
    for k in range(6):
        t.lines(300, tag=f"c{k}")
        print(f"MARK {k}", flush=True)
        t.lines(50, tag=f"e{k}", err=True)
        print(f"EMARK {k}", file=sys.stderr, flush=True)
    out, err = capfd.readouterr()
    for k in range(6):
        head = out.split(f"MARK {k}\n")[0]
        assert all(f") c{k} {i}\n" in head for i in range(300)), f"call {k}: lines after the marker"
        ehead = err.split(f"EMARK {k}\n")[0]
        assert all(f") e{k} {i}\n" in ehead for i in range(50)), f"call {k}: stderr lines after the marker"


# ------------------------------------------------------------------ log files, `fastparl logs`, flood note
def test_log_to_driver_file_writes_one_log_per_actor_and_fastparl_logs_reads_it(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FASTPARL_LOG_DIR", str(tmp_path))
    fastparl.disconnect()
    fastparl.connect("local", log_to_driver="file")
    try:
        a, b = RemoteTalker(), RemoteTalker()
        a.lines(20, tag="alpha")
        b.lines(5, tag="beta", err=True)
        apid = a.pid()
    finally:
        fastparl.disconnect()
    out, err = capfd.readouterr()
    assert "alpha" not in out and "beta" not in err  # kept off the terminal
    (session,) = os.listdir(tmp_path)
    assert session.endswith(f"-{os.getpid()}")
    files = sorted(os.listdir(tmp_path / session))
    assert len(files) == 2 and all(re.fullmatch(r"Talker-\d+\.log", f) for f in files), files
    texts = {f: (tmp_path / session / f).read_text() for f in files}
    alpha = next(f for f, t in texts.items() if "alpha" in t)
    assert texts[alpha] == "".join(f"alpha {i}\n" for i in range(20))
    assert any(t == "".join(f"beta {i}\n" for i in range(5)) for t in texts.values())
    assert alpha == f"Talker-{apid}.log"

    assert cli(["logs"]) == 0  # the sessions and the newest one's actors
    listing = capfd.readouterr().out
    assert session in listing and all(f in listing for f in files)
    assert cli(["logs", session]) == 0
    listing = capfd.readouterr().out
    assert all(f in listing for f in files), listing
    assert cli(["logs", alpha[:-4]]) == 0  # by the actor's name, in the newest session
    assert capfd.readouterr().out == texts[alpha]
    assert cli(["logs", str(tmp_path / session / alpha)]) == 0
    assert capfd.readouterr().out == texts[alpha]
    assert cli(["logs", "Talker"]) == 2  # two actors match: say which
    assert "more than one" in capfd.readouterr().err


def test_an_explicit_log_dir_and_both(tmp_path, capfd):
    fastparl.disconnect()
    fastparl.connect("local", log_to_driver="both", log_dir=str(tmp_path / "run"))
    try:
        RemoteTalker().lines(3, tag="twice")
    finally:
        fastparl.disconnect()
    assert capfd.readouterr().out.count("twice") == 3
    (f,) = os.listdir(tmp_path / "run")
    assert (tmp_path / "run" / f).read_text().count("twice") == 3
    with pytest.raises(ValueError, match="log_to_driver='files'"):
        fastparl.connect("local", log_to_driver="files")


def test_an_actor_flooding_the_terminal_gets_one_note(local, capfd):
    from fastparl.remote.api import current_backend

    mon = current_backend().monitor
    mon.flood_window, mon.flood_seconds = 0.05, 0.15  # the rule (1,000 lines/s for 3 s), shortened
    t = RemoteTalker()
    for _ in range(3):
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            t.lines(2000)
    err = capfd.readouterr().err
    notes = [line for line in err.splitlines() if "keeps actors' output off it" in line]
    assert len(notes) == 1, err[-2000:]
    assert re.search(r"actor Talker pid=\d+ is writing [\d,]+ lines/s", notes[0]) and "fastparl logs" in notes[0]


def test_a_quiet_actor_gets_no_note(local, capfd):
    from fastparl.remote.api import current_backend

    mon = current_backend().monitor
    mon.flood_window, mon.flood_seconds = 0.05, 0.15
    t = RemoteTalker()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        t.lines(1)
        time.sleep(0.01)
    assert "keeps actors' output off it" not in capfd.readouterr().err


def test_old_log_sessions_are_pruned_when_a_new_one_is_made(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTPARL_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("FASTPARL_KEEP_SESSIONS", "3")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone_pid = int(dead.stdout)  # a driver that has ended
    old = [f"20260101-00000{k}-{gone_pid}" for k in range(5)]
    running = f"20250101-000000-{os.getppid()}"  # the oldest, but its driver still runs: kept
    for d in [*old, running]:
        (tmp_path / d).mkdir()
        (tmp_path / d / "A-1.log").write_text("x")
    (tmp_path / "notes.txt").write_text("not a session")  # other files are left alone
    fastparl.disconnect()
    fastparl.connect("local", log_to_driver="file")
    try:
        RemoteTalker().lines(1)
    finally:
        fastparl.disconnect()
    left = sorted(os.listdir(tmp_path))
    mine = [d for d in left if d.endswith(f"-{os.getpid()}")]
    assert len(mine) == 1 and running in left and "notes.txt" in left, left
    assert [d for d in left if d in old] == old[-2:], left  # the newest 3 sessions: 2 old ones and this run's
