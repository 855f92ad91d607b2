"""A channel polls briefly for the next frame before blocking, and stops polling when it finds nothing."""

import socket
import threading
import time

import pytest

from fastparl.remote.local import channel as C


@pytest.fixture
def pair():
    (a, fa), (b, fb) = C.socket_pairs()
    x, y = C.Channel(a, fa), C.Channel(b, fb)
    yield x, y
    x.close()
    y.close()


def test_a_poll_that_finds_a_frame_reads_it_and_forgets_earlier_misses(pair, monkeypatch):
    monkeypatch.setattr(C, "SPIN_NS", 5_000_000_000)  # a 5 s poll: finding the frame at once is told apart under any load
    x, y = pair
    y._spin_misses = 2
    x.send(0, 7, "hello")
    t = time.perf_counter()
    n = y._spin_recv()
    assert n > 0 and y._spin_misses == 0 and time.perf_counter() - t < 2.5  # at once, not at the poll's end
    y._rstart, y._rend = 0, n
    assert y.next_buffered()[1:3] == (7, "hello")


def test_fruitless_polls_turn_polling_off_for_a_while(pair, monkeypatch):
    monkeypatch.setattr(C, "SPIN_NS", 200_000)
    x, y = pair
    for _ in range(C._SPIN_MISSES):
        assert y._spin_skip == 0
        assert y._spin_recv() == -1  # nothing came: the caller blocks
    assert y._spin_skip == C._SPIN_SKIP and y._spin_misses == 0
    # while polling is off, recv blocks at once and counts the skipped polls down
    for i in range(3):
        x.send(0, i, None)
        assert y.recv()[1] == i
    assert y._spin_skip == C._SPIN_SKIP - 3


def test_polling_can_be_switched_off(pair, monkeypatch):
    monkeypatch.setattr(C, "SPIN_NS", 0)
    x, y = pair
    x.send(0, 1, None)
    assert y.recv()[1] == 1
    assert y._spin_skip == -1  # never polls again
    x.send(0, 2, None)
    assert y.recv()[1] == 2 and y._spin_skip == -1


def test_a_closed_peer_is_seen_while_polling(pair, monkeypatch):
    monkeypatch.setattr(C, "SPIN_NS", 50_000_000)
    x, y = pair
    threading.Timer(0.005, lambda: x.sock.shutdown(socket.SHUT_RDWR)).start()
    with pytest.raises(C.PeerClosed):
        y.recv()


def _recv_after(x, y, delay_s: float, seq: int):
    """``y.recv()`` of a frame ``x`` sends ``delay_s`` from now."""
    timer = threading.Timer(delay_s, lambda: x.send(0, seq, None))
    timer.start()
    try:
        return y.recv()
    finally:
        timer.join()


def test_a_poll_grows_to_cover_a_steady_short_wait(pair, monkeypatch):
    monkeypatch.setattr(C, "SPIN_NS", 100_000)
    monkeypatch.setattr(C, "SPIN_MAX_NS", 10_000_000_000)
    monkeypatch.setattr(C, "_SHARED_CPU_NS", 10_000_000_000)  # never give up for sharing: the test is about length
    x, y = pair
    assert _recv_after(x, y, 0.02, 1)[1] == 1  # the 0.1 ms poll missed, the blocking read waited ~20 ms
    learned = y._spin_ns
    assert learned >= 1.25 * 15_000_000 and y._spin_misses == 0 and y._spun_at == 0
    assert _recv_after(x, y, 0.005, 2)[1] == 2  # the grown poll finds this one: nothing to learn
    assert y._spin_ns == learned and y._spin_misses == 0 and y._spun_at == 0


def test_a_wait_beyond_the_longest_poll_is_not_learned(pair, monkeypatch):
    monkeypatch.setattr(C, "SPIN_NS", 100_000)
    monkeypatch.setattr(C, "SPIN_MAX_NS", 5_000_000)
    monkeypatch.setattr(C, "_SHARED_CPU_NS", 10_000_000_000)
    x, y = pair
    y._spin_ns = 4_000_000
    assert _recv_after(x, y, 0.05, 1)[1] == 1
    assert y._spin_ns == 0 and y._spin_misses == 1  # back to the short poll, and a miss counted
