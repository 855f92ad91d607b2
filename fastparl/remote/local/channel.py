"""A message channel over a Unix stream socket, with out-of-band buffers in shared memory.

Frame layout (little endian)::

    header  : body_len u32, n_fds u16, n_oob u16, n_ctrl u16, flags u8, op u8, seq u64
    fd table: n_fds  x (segment id u64, size u64, kind u64)   descriptors: see below
    oob     : n_oob  x (segment id u64, offset u64, nbytes u64) pickle buffers in the arena
    ctrl    : n_ctrl x (kind u64, segment id u64, offset u64)  releases and forgets for the peer
    body    : pickle protocol 5 (or, with FLAG_BODY_OOB, the first oob entry)

Descriptors of new segments travel on a second, ``SOCK_SEQPACKET`` socket (``SCM_RIGHTS``), sent
before the frame that needs them: the frame socket then uses plain ``send``/``recv_into``, which
cost ~0.7 us less per message than ``sendmsg``/``recvmsg`` with room for ancillary data.

Both ends are symmetric.  A call costs one ``send`` and one ``recv`` per side; a large array
costs one copy into the sender's persistent arena (:mod:`.arena`), and the receiver gets a
read-only view.  A :class:`Channel` is the local backend's :class:`~fastparl.remote.transport.Transport`.
"""

from __future__ import annotations

import array
import errno
import itertools
import os
import pickle
import select
import socket
import struct
import time
import weakref
from collections import deque
from typing import Any, Callable

from fastparl.remote import serialization
from fastparl.remote.local import objref
from fastparl.remote.local.arena import Arena
from fastparl.remote.error_messages import fd_error
from fastparl.remote.local.segments import ARENA, REF, SHARED, Segment, close_fd, forwarded, lookup, recycler
from fastparl.remote.protocol import PeerClosed
from fastparl.remote.system import portable

__all__ = ["Channel", "PeerClosed", "OOB_THRESHOLD", "socket_pairs"]

HDR = struct.Struct("<IHHHBBQ")
ENT = struct.Struct("<QQQ")
CTRL = ENT
FLAG_BODY_OOB = 1
OOB_THRESHOLD = 128 << 10  # buffers at least this large go to shared memory (perf.runtime's sweep: the crossover)
BODY_OOB_THRESHOLD = 1 << 20
CTRL_RELEASE, CTRL_FORGET, CTRL_UNMAPPED = 0, 1, 2
_MAX_FDS = 64
_ANC = socket.CMSG_SPACE(_MAX_FDS * 4)
_MSG_DONTWAIT = socket.MSG_DONTWAIT
_HDR_SIZE = HDR.size
_hdr_pack, _hdr_unpack = HDR.pack, HDR.unpack_from
_dumps, _loads = pickle.dumps, pickle.loads
_PLAIN = serialization.PLAIN_TYPES
_is_plain = serialization.is_plain
_channel_ids = itertools.count(1)
# Polling before blocking (see Channel._spin_recv): FASTPARL_SPIN_US=0 turns it off.
SPIN_NS = int(float(os.environ.get("FASTPARL_SPIN_US", "50")) * 1000)
# A poll grows to cover replies that came within this long of the last poll's start (FASTPARL_SPIN_MAX_US).
SPIN_MAX_NS = int(float(os.environ.get("FASTPARL_SPIN_MAX_US", "2000")) * 1000)
_SHARED_CPU_NS = 3000  # a sched_yield that took longer ran another task
_SPIN_MISSES, _SPIN_SKIP = 4, 256  # after 4 fruitless polls in a row, block at once for 256 waits
_clock = time.perf_counter_ns
_yield = os.sched_yield


def socket_pairs() -> tuple[tuple[socket.socket, socket.socket], tuple[socket.socket, socket.socket]]:
    """Two connected ends, each (frame socket, descriptor socket), for :class:`Channel`."""
    try:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            fa, fb = socket.socketpair(socket.AF_UNIX, portable.SEQ_SOCKET)
        except BaseException:
            a.close()
            b.close()
            raise
    except OSError as e:
        if e.errno in (errno.EMFILE, errno.ENFILE):
            raise fd_error("creating the sockets for a new actor", e) from None
        raise
    return (a, fa), (b, fb)


class Channel:
    """One end of a framed, shared-memory-aware connection."""

    def __init__(self, sock: socket.socket, fd_sock: socket.socket, oob_threshold: int = OOB_THRESHOLD):
        self.sock = sock
        self.fd_sock = fd_sock
        self.fd = sock.fileno()
        self.oob_threshold = oob_threshold
        self.arena = Arena()
        self.peer_segs: dict[int, Segment] = {}  # segments the peer sent us, held until it says forget
        self.peer_has: set[int] = set()  # segment ids whose descriptor the peer holds
        self._ctrl: list[tuple[int, int, int]] = []
        self._once: list[Segment] = []  # arena segments whose descriptor goes to the peer once, then closes
        self._rbuf = bytearray(1 << 18)
        self._rview = memoryview(self._rbuf)
        self._rstart = 0
        self._rend = 0
        self._fds: deque[int] = deque()
        self.closed = False
        self._weak_self = weakref.ref(self)
        self._bufs: list[Any] = []
        self._segs: list[Segment] = []
        self._spin_skip = 0  # waits left that block without polling first (see _spin_recv); -1: never poll
        self._spin_misses = 0
        self._spin_ns = 0  # learned poll length (0: SPIN_NS); see _spin_recv
        self._spun_at = 0  # clock at the start of a poll that timed out, until the blocking read returns
        self.cid = next(_channel_ids)
        self._encoder = serialization.Encoder(self._on_buffer, self._on_shared, self._on_retry, oob_threshold)
        # Regions of the peer's arena we hold views of: id(weakref) -> (weakref, segment id, offset).  A plain
        # weakref callback (not weakref.finalize: ~10x dearer) queues the release when a view dies.
        self._views: dict[int, tuple[Any, int, int]] = {}
        self._on_view_dead = _view_dead_callback(self._views, self._weak_self)
        self.refs_sent: set[int] = set()  # our put() segments this peer maps: released when it acks or closes

    # ------------------------------------------------------------------ encoding
    def fileno(self) -> int:
        return self.fd

    def forget_later(self, seg_id: int) -> None:
        """Called when a segment this channel sent dies: tell the peer (on the next message)."""
        self._ctrl.append((CTRL_FORGET, seg_id, 0))
        self.peer_has.discard(seg_id)

    def _on_buffer(self, pb: Any) -> bool:
        if pb.raw().nbytes < self.oob_threshold:
            return True  # small: pickled in band
        self._bufs.append(pb)
        return False

    def _on_retry(self) -> None:
        self._bufs.clear()
        self._segs.clear()

    def _on_shared(self, seg: Segment) -> bool:
        self._segs.append(seg)
        return True

    def encode(self, op: int, seq: int, payload: Any) -> tuple[bytes, list[int]]:
        """Pickle ``payload`` into one frame; returns (frame bytes, descriptors to attach)."""
        parts, fds = self._frame_parts(op, seq, payload)
        return (parts[0] if len(parts) == 1 else b"".join(parts)), fds

    def _frame_parts(self, op: int, seq: int, payload: Any) -> tuple[list[Any], list[int]]:
        """Pickle ``payload`` into one frame, as buffers to be sent in order (large in-band arrays are
        not copied into it: send them before their memory changes); returns (buffers, descriptors)."""
        if serialization.is_plain(payload):  # no arrays, no shared memory: the C pickler alone
            body = pickle.dumps(payload, 5)
            if len(body) < BODY_OOB_THRESHOLD:
                return [self._plain_frame(op, seq, body)], []
        bufs = self._bufs = []
        segs = self._segs = []
        try:
            parts = self._encoder.dumps_parts(payload)
        finally:
            self._bufs, self._segs = [], []  # hold no segment or buffer past this message
        single = len(parts) == 1
        body_len = len(parts[0]) if single else sum(memoryview(p).nbytes for p in parts)
        flags = 0
        if not bufs and not segs and body_len < BODY_OOB_THRESHOLD:  # the fast path
            if single:
                return [self._plain_frame(op, seq, parts[0])], []
            return [self._header(op, seq, body_len), *parts], []
        body = parts[0] if single else b"".join(parts)
        fd_ents: list[bytes] = []
        fds: list[int] = []
        for seg in segs:
            if seg.id not in self.peer_has:
                self._attach(seg, fd_ents, fds)
        oob: list[bytes] = []
        if body_len >= BODY_OOB_THRESHOLD:
            bufs.insert(0, body)
            flags |= FLAG_BODY_OOB
        for pb in bufs:
            raw = pb.raw() if not isinstance(pb, bytes) else pb
            n = raw.nbytes if not isinstance(raw, bytes) else len(raw)
            seg, off, new = self.arena.alloc(n)
            seg.u8[off:off + n] = memoryview(raw).cast("B")
            if new:
                self._attach(seg, fd_ents, fds)
            oob.append(ENT.pack(seg.id, off, n))
        if flags & FLAG_BODY_OOB:
            body = b""
        ctrl, self._ctrl = self._ctrl, []
        parts = [HDR.pack(len(body), len(fds), len(oob), len(ctrl), flags, op, seq), *fd_ents, *oob]
        parts.extend(CTRL.pack(k, s, o) for k, s, o in ctrl)
        parts.append(body)
        return [b"".join(parts)], fds

    def _header(self, op: int, seq: int, body_len: int) -> bytes:
        """The header of a frame without descriptors or out-of-band buffers, with the peer's releases."""
        if not self._ctrl:
            return _hdr_pack(body_len, 0, 0, 0, 0, op, seq)
        ctrl, self._ctrl = self._ctrl, []
        return b"".join([_hdr_pack(body_len, 0, 0, len(ctrl), 0, op, seq), *(CTRL.pack(*c) for c in ctrl)])

    def _plain_frame(self, op: int, seq: int, body: bytes) -> bytes:
        """A frame without descriptors or out-of-band buffers (releases and forgets for the peer ride on it)."""
        if not self._ctrl:
            return _hdr_pack(len(body), 0, 0, 0, 0, op, seq) + body
        return self._header(op, seq, len(body)) + body

    def _attach(self, seg: Segment, fd_ents: list[bytes], fds: list[int]) -> None:
        if seg.kind == REF:
            if seg.writable:  # ours: wait for this peer's acknowledgement before reusing the memory
                recycler.sent(seg.id, self.cid)
                self.refs_sent.add(seg.id)
            else:
                forwarded.add(seg.id)
        elif seg.kind == ARENA:
            self._once.append(seg)
        fd_ents.append(ENT.pack(seg.id, seg.size, seg.kind))
        fds.append(seg.fd)
        self.peer_has.add(seg.id)
        seg.peers.add(self)

    # ------------------------------------------------------------------ sending
    def send(self, op: int, seq: int, payload: Any, on_blocked: Callable[[], bool] | None = None,
             plain: bool = False) -> None:
        """Send one frame (``plain``: the caller knows the payload is made of plain values).

        ``on_blocked`` is called when the socket buffer is full, so that a caller that pipelines
        many requests can drain replies instead of deadlocking with a peer that is blocked too;
        it returns False when it could not read (another thread is reading), and we then wait.
        """
        if plain or type(payload) in _PLAIN or _is_plain(payload):  # the common case, inlined
            body = _dumps(payload, 5)
            if len(body) < BODY_OOB_THRESHOLD:
                data = _hdr_pack(len(body), 0, 0, 0, 0, op, seq) + body if not self._ctrl else \
                    self._plain_frame(op, seq, body)
                try:
                    sent = self.sock.send(data, _MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except (BrokenPipeError, ConnectionResetError) as e:
                    self.closed = True
                    raise PeerClosed(str(e)) from None
                if sent != len(data):  # rare: the socket buffer is full
                    self._send_rest(data, sent, on_blocked)
                return
        parts, fds = self._frame_parts(op, seq, payload)
        if len(parts) == 1:
            self.send_raw(parts[0], fds, on_blocked)
        else:  # a frame of several buffers has no descriptors (see _frame_parts)
            self._send_parts(parts, on_blocked)

    def _send_parts(self, parts: list[Any], on_blocked: Callable[[], bool] | None) -> None:
        """Send a frame given as several buffers with one gathering system call; when the socket takes
        only part of it, the rest is joined and sent as usual (the buffers may not outlive this call)."""
        sent, total = 0, -1
        try:
            try:
                sent = self.sock.sendmsg(parts, (), _MSG_DONTWAIT)
            except BlockingIOError:
                pass
            total = sum(memoryview(p).nbytes for p in parts)
            if sent != total:
                self._send_rest(b"".join(parts), sent, on_blocked)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.closed = True
            raise PeerClosed(str(e)) from None
        except BaseException:
            if sent and sent != total:  # interrupted with part of the frame sent: the stream is unusable
                self.closed = True
            raise

    def send_raw(self, data: bytes, fds: list[int], on_blocked: Callable[[], bool] | None = None) -> None:
        if fds:
            try:
                self.send_fds(fds)
            except (BrokenPipeError, ConnectionResetError) as e:
                self.closed = True
                raise PeerClosed(str(e)) from None
            finally:
                for seg in self._once:  # the peer has its own descriptor now (or never will)
                    seg.drop_fd()
                self._once.clear()
        self._send_rest(data, 0, on_blocked)

    def _send_rest(self, data: bytes, sent: int, on_blocked: Callable[[], bool] | None) -> None:
        """Send ``data[sent:]``; with ``on_blocked``, never block while the peer may be blocked too."""
        sock = self.sock
        try:
            if on_blocked is None:
                sock.sendall(memoryview(data)[sent:] if sent else data)
                return
            view = memoryview(data)[sent:]
            while view:
                try:
                    n = sock.send(view, _MSG_DONTWAIT)
                except BlockingIOError:
                    r, _, _ = select.select([sock], [sock], [])
                    if r and not on_blocked():
                        select.select([], [sock], [], 0.001)  # another thread reads the replies: let it
                    continue
                sent += n
                view = view[n:]
        except (BrokenPipeError, ConnectionResetError) as e:
            self.closed = True
            raise PeerClosed(str(e)) from None
        except BaseException:
            if 0 < sent < len(data):  # a partial frame corrupts the stream: this channel is unusable now
                self.closed = True
            raise

    def send_fds(self, fds: list[int]) -> None:
        """Send descriptors on the side socket; the peer takes them when it parses the next frame."""
        for i in range(0, len(fds), _MAX_FDS):
            self.fd_sock.sendmsg([b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds[i:i + _MAX_FDS]))])

    def take_fds(self, n: int) -> list[int]:
        """Receive ``n`` descriptors from the side socket (they were sent before the frame)."""
        while len(self._fds) < n:
            try:
                data, anc, flags, _ = self.fd_sock.recvmsg(1, _ANC)
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    raise fd_error("receiving shared memory", e) from None
                raise
            if flags & socket.MSG_CTRUNC:  # the kernel dropped descriptors: we may open no more
                self.closed = True
                raise fd_error("receiving shared memory", OSError(errno.EMFILE, os.strerror(errno.EMFILE)))
            if not data:
                self.closed = True
                raise PeerClosed("peer closed the descriptor socket")
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                    self._fds.extend(fds)
        return [self._fds.popleft() for _ in range(n)]

    # ------------------------------------------------------------------ receiving
    def has_frame(self) -> bool:
        """Whether a whole frame is already buffered (no system call)."""
        avail = self._rend - self._rstart
        if avail < HDR.size:
            return False
        body_len, n_fds, n_oob, n_ctrl, _, _, _ = HDR.unpack_from(self._rbuf, self._rstart)
        return avail >= HDR.size + (n_fds + n_oob) * ENT.size + n_ctrl * CTRL.size + body_len

    def recv(self, timeout: float | None = None) -> tuple[int, int, Any, BaseException | None] | None:
        """Receive one frame: (op, seq, payload, error).  ``error`` is set when the body could not be
        unpickled (the frame is consumed either way).  Returns None on timeout; raises PeerClosed."""
        while True:
            start = self._rstart
            if self._rend - start >= _HDR_SIZE:
                body_len, n_fds, n_oob, n_ctrl, _, op, seq = _hdr_unpack(self._rbuf, start)
                end = start + _HDR_SIZE + body_len
                if not (n_fds or n_oob or n_ctrl) and end <= self._rend:  # the common case, inlined
                    self._rstart = end
                    try:
                        return op, seq, _loads(self._rview[start + _HDR_SIZE:end]), None
                    except Exception as e:  # noqa: BLE001
                        return op, seq, None, e
                frame = self.next_buffered()
                if frame is not None:
                    return frame
            if timeout is not None and not self._wait_readable(timeout):
                return None
            if self._rstart == self._rend and not self.closed:  # empty: read at the start (inlined _read)
                try:
                    polled = self._spin_skip == 0
                    n = self._spin_recv() if polled else -1
                    if n < 0:
                        if self._spin_skip > 0:
                            self._spin_skip -= 1
                        n = self.sock.recv_into(self._rview)
                        if polled and self._spun_at:
                            self._learn_wait(_clock() - self._spun_at)
                except (InterruptedError, BlockingIOError):
                    continue
                except OSError as e:
                    self._read_error(e)
                if n == 0:
                    self.closed = True
                    raise PeerClosed("peer closed the connection")
                self._rstart, self._rend = 0, n
                continue
            self._read(block=True)

    def _spin_recv(self) -> int:
        """Poll for the next frame before blocking; returns the bytes read, or -1.

        A process that blocks leaves its CPU idle, and on a VM an idle CPU halts: waking it for the
        reply then costs ~15-25 us on these machines (a no-op call across CPUs: 25-32 us blocking,
        10 us polling), and more after a longer wait (a 1.2 ms call: ~140 us more than polling).  The
        poll lasts ``SPIN_US``, or as long as the last wait that outlasted it took (x 1.25, at most
        ``SPIN_MAX_US``): a caller whose replies take a steady 1 ms polls for them.  It yields the CPU
        at every turn and gives up as soon as another task ran on it (the peer may share the CPU:
        polling would only add system calls); after a few polls in a row that found nothing (long
        calls, a sharing peer) it stays off for a while."""
        if not SPIN_NS:
            self._spin_skip = -1  # never again: the inlined check above sees a skip count forever
            return -1
        sock, view, clock = self.sock, self._rview, _clock
        start = clock()
        end = start + max(SPIN_NS, self._spin_ns)
        self._spun_at = 0
        while True:
            try:
                n = sock.recv_into(view, 0, _MSG_DONTWAIT)
                self._spin_misses = 0
                return n
            except BlockingIOError:
                t = clock()
                if t > end:
                    self._spun_at = start  # the blocking read that follows tells how long the wait was
                    break
                _yield()
                if clock() - t > _SHARED_CPU_NS:  # another task ran on this CPU meanwhile
                    self._spin_ns = 0
                    break
        self._spin_misses += 1
        if self._spin_misses >= _SPIN_MISSES:
            self._spin_misses = 0
            self._spin_skip = _SPIN_SKIP
        return -1

    def _learn_wait(self, wait_ns: int) -> None:
        """After a poll that timed out: poll long enough for such a wait next time, if that is short."""
        self._spun_at = 0
        if wait_ns <= SPIN_MAX_NS:
            self._spin_ns = min(SPIN_MAX_NS, wait_ns + wait_ns // 4)
            self._spin_misses = 0  # not fruitless: a longer poll would have caught it
            self._spin_skip = 0
        else:
            self._spin_ns = 0

    def _read_error(self, e: OSError) -> None:
        if isinstance(e, ConnectionResetError) or e.errno in (errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
            self.closed = True
            raise PeerClosed(str(e)) from None
        raise e

    def poll(self) -> list[tuple[int, int, Any, BaseException | None]]:
        """Read whatever has arrived, without blocking; returns the complete frames."""
        frames = []
        while True:
            frame = self.next_buffered()
            if frame is not None:
                frames.append(frame)
                continue
            if not self._read(block=False):
                return frames

    def _wait_readable(self, timeout: float) -> bool:
        try:
            r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        except ValueError:  # closed
            raise PeerClosed("channel closed") from None
        return bool(r)

    def _read(self, block: bool) -> bool:
        if self._rstart == self._rend:
            self._rstart = self._rend = 0
        elif len(self._rbuf) - self._rend < 65536:
            self._compact()
        try:
            end = self._rend
            n = self.sock.recv_into(self._rview[end:] if end else self._rview, 0, 0 if block else _MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except InterruptedError:
            return True
        except (ConnectionResetError, OSError) as e:
            if isinstance(e, OSError) and e.errno not in (errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
                raise
            self.closed = True
            raise PeerClosed(str(e)) from None
        if n == 0:
            self.closed = True
            raise PeerClosed("peer closed the connection")
        self._rend += n
        return True

    def _compact(self) -> None:
        live = self._rend - self._rstart
        need = 0
        if live >= HDR.size:
            body_len, n_fds, n_oob, n_ctrl, _, _, _ = HDR.unpack_from(self._rbuf, self._rstart)
            need = HDR.size + (n_fds + n_oob) * ENT.size + n_ctrl * CTRL.size + body_len
        size = len(self._rbuf)
        while size < need + 65536:
            size *= 2
        if size != len(self._rbuf):
            new = bytearray(size)
            new[:live] = self._rview[self._rstart:self._rend]
            self._rview.release()
            self._rbuf, self._rview = new, memoryview(new)
        else:
            self._rbuf[:live] = self._rview[self._rstart:self._rend]
        self._rstart, self._rend = 0, live

    def next_buffered(self) -> tuple[int, int, Any, BaseException | None] | None:
        start = self._rstart
        avail = self._rend - start
        if avail < HDR.size:
            return None
        buf = self._rbuf
        body_len, n_fds, n_oob, n_ctrl, flags, op, seq = HDR.unpack_from(buf, start)
        pos = start + HDR.size
        total = HDR.size + (n_fds + n_oob) * ENT.size + n_ctrl * CTRL.size + body_len
        if avail < total:
            return None
        self._rstart = start + total
        if not (n_fds or n_oob or n_ctrl):
            try:
                return op, seq, serialization.loads(self._rview[pos:pos + body_len]), None
            except Exception as e:  # noqa: BLE001
                return op, seq, None, e
        fds = self.take_fds(n_fds) if n_fds else ()
        for fd in fds:
            seg_id, size, kind = ENT.unpack_from(buf, pos)
            pos += ENT.size
            self._adopt(seg_id, size, kind, fd)
        views = []
        for _ in range(n_oob):
            seg_id, off, n = ENT.unpack_from(buf, pos)
            pos += ENT.size
            views.append(self._region(seg_id, off, n))
        for _ in range(n_ctrl):
            kind, seg_id, offset = CTRL.unpack_from(buf, pos)
            pos += CTRL.size
            if kind == CTRL_RELEASE:
                self.arena.release(seg_id, offset)
            elif kind == CTRL_UNMAPPED:
                self.refs_sent.discard(seg_id)
                recycler.unmapped(seg_id, self.cid)
            else:
                self.peer_segs.pop(seg_id, None)
                self.peer_has.discard(seg_id)
                objref.forget(seg_id)
        if flags & FLAG_BODY_OOB:
            body: Any = views.pop(0)
        else:
            body = self._rview[pos:pos + body_len]
        try:
            return op, seq, serialization.loads(body, buffers=views), None
        except Exception as e:  # noqa: BLE001
            return op, seq, None, e

    def _adopt(self, seg_id: int, size: int, kind: int, fd: int) -> None:
        seg = lookup(seg_id)
        if seg is not None:  # we already map it (e.g. our own shared array coming back)
            os.close(fd)
        else:
            try:  # arena and put() pages exist already: map them at once; shared arrays fill lazily
                seg = Segment(seg_id, kind, size, fd, writable=(kind == SHARED), populate=(kind != SHARED))
            except BaseException:
                os.close(fd)
                raise
            if kind == ARENA:  # only its sender sends it, and only to us: the mapping is enough
                seg.drop_fd()
            elif kind == REF:  # tell the owner when our last view is gone, so that it may reuse the memory
                weakref.finalize(seg.mm, _unmapped, self._weak_self, seg_id)
        self.peer_segs[seg_id] = seg
        self.peer_has.add(seg_id)

    def _region(self, seg_id: int, off: int, n: int) -> Any:
        seg = self.peer_segs[seg_id]
        view = seg.view(off, n)
        ref = weakref.ref(view, self._on_view_dead)
        self._views[id(ref)] = (ref, seg_id, off)
        return view

    def close(self) -> None:
        if not self.closed:
            self.closed = True
        for seg_id in list(self.refs_sent):  # a closed peer reads nothing any more
            recycler.unmapped(seg_id, self.cid)
        self.refs_sent.clear()
        for sock in (self.sock, self.fd_sock):
            try:
                sock.close()
            except OSError:
                pass
        while self._fds:
            close_fd(self._fds.popleft())
        self.arena.close()
        self.peer_segs.clear()


def _unmapped(weak_channel: "weakref.ref[Channel]", seg_id: int) -> None:
    ch = weak_channel()
    if ch is not None and not ch.closed and seg_id not in forwarded:
        ch._ctrl.append((CTRL_UNMAPPED, seg_id, 0))


def _view_dead_callback(views: dict[int, tuple[Any, int, int]], weak_channel: "weakref.ref[Channel]"
                        ) -> Callable[[Any], None]:
    def dead(ref: Any) -> None:
        entry = views.pop(id(ref), None)
        ch = weak_channel()
        if entry is not None and ch is not None and not ch.closed:
            ch._ctrl.append((CTRL_RELEASE, entry[1], entry[2]))
    return dead
