"""``fastparl status``: ask worker daemons what they hold, as a table or JSON."""

from __future__ import annotations

import json
import os
import textwrap
from typing import Any

import zmq

from fastparl.errors import FastparlError
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.control import handshake
from fastparl.remote.zmq.wire import decode_control, encode_control

__all__ = ["query", "format_table", "driver_view", "format_driver_view"]


def query(address: str, timeout: float = 3.0, curve: bool | None = None) -> dict[str, Any]:
    """The status of the worker at ``address``, or ``{"address": ..., "error": ...}``."""
    ctx = zmq.Context()
    sock = None
    try:
        if curve is None:
            curve = os.environ.get("FASTPARL_CURVE", "0") not in ("", "0")
        sock, welcome = handshake(ctx, address, auth.load_token(), timeout, name="fastparl status", curve=curve,
                                    observer=True)
        session = welcome["_session"]
        sock.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        sock.send_multipart(session.seal(lambda seq: encode_control("status", req=1, seq=seq)))
        msg, _ = decode_control(sock.recv_multipart())
        sock.send_multipart(session.seal(lambda seq: encode_control("bye", seq=seq)))
        msg.pop("kind", None)
        msg.pop("req", None)
        return {"address": address, **msg}
    except (FastparlError, zmq.ZMQError) as e:
        return {"address": address, "error": str(e)}
    finally:  # never block here: term() would wait for a socket left open by an error
        if sock is not None:
            sock.close(linger=200)
        ctx.destroy(linger=0)


MESSAGE_WIDTH = 60  # a message longer than this is wrapped (at spaces) onto the lines below


def format_table(rows: list[dict[str, Any]]) -> str:
    """``rows`` (from :func:`query`) as a table: one line per worker, one per client (its id and name)."""
    head = ["worker", "host", "CPU slots used/total", "GPUs free", "clients", "actors", "actors RSS MB",
            "mem avail/total MB"]
    lines = [head]
    for r in rows:
        if "error" in r:
            message = textwrap.wrap(str(r["error"]), MESSAGE_WIDTH, break_on_hyphens=False) or [""]
            lines.append([r["address"], "-", "unreachable", "-", "-", "-", "-", message[0]])
            lines.extend([""] * (len(head) - 1) + [more] for more in message[1:])
            continue
        clients = r.get("clients", [])
        used = r["cpus"] - r["free_cpus"]
        lines.append([r["address"], str(r.get("host")), f"{used}/{r['cpus']}",
                      f"{len(r.get('free_gpus', []))}/{len(r.get('gpus', []))}", str(len(clients)),
                      str(sum(c["actors"] + c["same_host_actors"] for c in clients)),
                      f"{sum(c['rss_mb'] for c in clients):.0f}",
                      f"{r.get('mem_available_mb')}/{r.get('mem_total_mb')}"])
        for c in clients:
            lines.append([f"  client {c['client']}", c.get("name", "") or "-", "", "", "",
                          f"{c['actors']} + {c['same_host_actors']} local", f"{c['rss_mb']:.0f}", ""])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in lines)


def driver_view(session: str = "") -> dict[str, Any]:
    """A driver's view of its workers, from ``hosts.json`` in its session folder (the newest if ``session`` is
    empty; a name or a path), or ``{"error": ...}``."""
    from fastparl.remote.logs import log_root

    root = log_root()
    folder = session if os.path.isabs(session) else os.path.join(root, session)
    if not session:
        found = sorted(d for d in (os.listdir(root) if os.path.isdir(root) else [])
                       if os.path.isfile(os.path.join(root, d, "hosts.json")))
        if not found:
            return {"error": f"no driver session with workers under {root} (a driver writes hosts.json there "
                             "when it connects to workers)"}
        folder = os.path.join(root, found[-1])
    path = os.path.join(folder, "hosts.json")
    try:
        with open(path) as f:
            view = dict(json.load(f))
    except (OSError, ValueError) as e:
        return {"error": f"cannot read {path}: {e}"}
    view["session"] = os.path.basename(folder)
    return view


def format_driver_view(view: dict[str, Any]) -> str:
    if "error" in view:
        return str(view["error"])
    import time

    age = time.time() - float(view.get("updated", 0))
    lines = [f"driver pid {view.get('driver_pid')} (session {view.get('session')}), FASTPARL_HOST_TIMEOUT="
             f"{view.get('host_timeout')} s; as of {age:.0f} s ago (written when a worker changes state)"]
    lines.append(f"{'worker':24} {'host':20} {'state':8} {'free':>5} {'sessions':>8}  reason")
    for h in view.get("hosts", []):
        lines.append(f"{h['address']:24} {str(h['host'])[:20]:20} {h['state']:8} {h['free_cpus']:>5} "
                     f"{h['sessions']:>8}  {h.get('lost') or ''}")
    return "\n".join(lines)
