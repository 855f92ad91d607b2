"""The Ray backend: connecting to Ray, placing actors with Ray's resources, waiting with ``ray.wait``."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import weakref
from typing import Any, Sequence

from fastparl.errors import ActorDiedError, ConnectionError, FastparlError, ResourceError
from fastparl.remote.backend import Backend, Capabilities, PendingResult
from fastparl.remote.class_transfer import class_spec
from fastparl.remote.logs import log_mode
from fastparl.remote.proxy import method_names
from fastparl.remote.ray.handle import PendingCall, RayActor
from fastparl.remote.ray.host import host_class
from fastparl.remote.ray.objref import RayObjectRef

__all__ = ["RayBackend", "import_ray"]

_SOCKET_SAFE_TEMP = "/tmp/ray"  # Ray's Unix socket paths (under its temp dir) must stay within 107 bytes


def import_ray() -> Any:
    """Ray, imported on first use of this backend (never by ``import fastparl``)."""
    try:
        import ray
    except ImportError as e:
        raise ConnectionError("the Ray backend needs Ray: pip install 'fastparl[ray]' (or 'ray>=2.9')") from e
    return ray


class RayBackend(Backend):
    """Actors are Ray actors, each hosting fastparl's dispatcher (:class:`~.host.Host`).

    Args:
        target: ``"ray"``: the Ray instance this process already joined (``ray.init`` called, or code
            running inside a Ray actor), else the cluster Ray finds (``RAY_ADDRESS``, or the latest one
            ``ray start`` began on this machine), else a new local Ray instance that
            :func:`fastparl.disconnect` stops.  ``"ray://HOST:PORT"``: a cluster's Ray Client server.
        log_to_driver: forward actors' output here, prefixed ``(Class pid=N)`` (when we call ``ray.init``).
        distributed_files: files to make available to actors on other nodes (sent as Ray's ``working_dir``).
        start_timeout: seconds to wait for Ray to place and start an actor before a ResourceError.
        ray_init: more keyword arguments for ``ray.init`` (e.g. ``num_cpus``, ``runtime_env``, ``namespace``).
        actor_options: more Ray actor options for every actor (e.g. ``{"num_cpus": 1}`` to reserve a CPU each).
        autoscaling: the cluster adds nodes on demand: an actor that no node can hold now waits (up to
            ``start_timeout``) instead of raising ResourceError at once.
    """

    name = "ray"
    capabilities = Capabilities(processes=True, shared_memory=False, zero_copy=False, interrupt_timeouts=True,
                                exit_signals=False)
    instead = {"shared_memory": "Ray actors (possibly on other nodes) cannot write into this process's memory. Share "
                                "read-only data with fastparl.put(array) (Ray's object store: one copy per node, read "
                                "in place by its actors), pass ordinary NumPy arrays, and return results from the "
                                "actors' methods; or use connect('local') for in-place shared arrays on one machine."}

    def __init__(self, target: str = "ray", log_to_driver: bool = True, distributed_files: Sequence[str] = (),
                 start_timeout: float = 300.0, ray_init: dict[str, Any] | None = None,
                 actor_options: dict[str, Any] | None = None, autoscaling: bool = False, **_options: Any):
        super().__init__()
        ray = self.ray = import_ray()
        self.target = target
        self.start_timeout = start_timeout
        self.actor_options = dict(actor_options or {})
        self.autoscaling = autoscaling
        self.owns_ray = False
        self.files_dir: str | None = None
        self._breakpoint_env = os.environ.get("PYTHONBREAKPOINT")
        try:
            if ray.is_initialized():
                if distributed_files or ray_init:
                    raise ConnectionError("Ray is already initialized in this process, so fastparl.connect() cannot "
                                          "pass distributed_files or ray_init to ray.init: pass them to your own "
                                          "ray.init() (runtime_env={'working_dir': ...}) instead")
            else:
                self._init_ray(target, log_to_driver, distributed_files, dict(ray_init or {}))
        except BaseException:
            self.close_wake_pipe()
            raise
        self.actors: "weakref.WeakSet[RayActor]" = weakref.WeakSet()
        # user class -> (its Ray actor class, the method names it forwards)
        self._hosts: "weakref.WeakKeyDictionary[type, tuple[Any, set[str]]]" = weakref.WeakKeyDictionary()
        self._nodes_cache: list[dict[str, Any]] = []
        self._nodes_at = -1e9
        self._closed = False

    def _init_ray(self, target: str, log_to_driver: bool, files: Sequence[str], kwargs: dict[str, Any]) -> None:
        kwargs.setdefault("address", None if target == "ray" else target)
        kwargs.setdefault("include_dashboard", False)
        # Ray keeps what it does not forward in its own session logs (/tmp/ray/session_latest/logs)
        kwargs.setdefault("log_to_driver", log_mode(log_to_driver) in ("terminal", "both"))
        kwargs.setdefault("logging_level", logging.ERROR)  # Ray's start-up notices stay out of the user's way
        tmp = os.environ.get("TMPDIR")
        if "RAY_TMPDIR" not in os.environ and tmp and len(tmp) > 40 and not kwargs["address"]:
            kwargs.setdefault("_temp_dir", _SOCKET_SAFE_TEMP)
        if files:
            self.files_dir = _gather(files)
            kwargs["runtime_env"] = {**(kwargs.get("runtime_env") or {}), "working_dir": self.files_dir}
        try:
            self.ray.init(**kwargs)
        except Exception as e:  # noqa: BLE001
            self._remove_files()
            raise ConnectionError(f"fastparl.connect({target!r}): Ray could not start or join a cluster: "
                                  f"{type(e).__name__}: {e}") from e
        self.owns_ray = True

    # ------------------------------------------------------------------ actors
    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> RayActor:
        if self._closed:
            raise ConnectionError("this Ray backend was disconnected; call fastparl.connect() again")
        options = dict(self.actor_options)
        n_gpu = int(opts.get("n_gpu") or 0)
        max_memory = opts.get("max_memory")
        if n_gpu:
            options["num_gpus"] = n_gpu
        if max_memory:
            options["memory"] = int(max_memory * 2**20)  # Ray reserves it on a node (it does not cap the process)
        needs = self._check_fits(cls.__name__, n_gpu, options.get("memory"))
        here = self._on_this_host()
        spec = class_spec(cls, remote=not here)
        host, methods = self._host_for(cls)
        handle = host.options(**options).remote(cls.__name__, list(sys.path) if here else None,
                                                os.getcwd() if here else None, n_gpu == 0)
        actor = RayActor(self, self.ray, handle, cls.__name__, methods, spec, args, kwargs, self.start_timeout, needs)
        self.actors.add(actor)
        return actor

    def _host_for(self, cls: type) -> tuple[Any, set[str]]:
        entry = self._hosts.get(cls)
        if entry is None:
            # The proxy's methods, less names that Ray's actor handles use themselves (_ray_*, _actor_id...):
            # those go through Host._fp_handle.
            names = [n for n in method_names(cls)
                     if not n.startswith("_ray") and not hasattr(self.ray.actor.ActorHandle, n)]
            host = self.ray.remote(max_concurrency=1, max_restarts=0, max_task_retries=0)(host_class(cls, names))
            entry = self._hosts[cls] = (host, set(names))
        return entry

    def _nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes, asked of Ray at most every few seconds (actor starts come in bursts)."""
        now = time.monotonic()
        if now - self._nodes_at > 5.0:
            self._nodes_cache = [n for n in self.ray.nodes() if n.get("Alive")]
            self._nodes_at = now
        return self._nodes_cache

    def _on_this_host(self) -> bool:
        """Whether every node of the cluster is this machine (then classes travel by reference, and actors
        take the driver's sys.path and working directory)."""
        if self.target.startswith("ray://"):
            return False
        try:
            me = self.ray.util.get_node_ip_address()
            nodes = self._nodes()
        except Exception:  # noqa: BLE001
            return False
        return bool(nodes) and all(n.get("NodeManagerAddress") == me for n in nodes)

    def _check_fits(self, cls_name: str, n_gpu: int, memory: int | None) -> str:
        """Raise ResourceError when no node of the cluster could ever hold the actor (unless the cluster
        autoscales); returns what it needs, as text for a later error."""
        needs = ([f"{n_gpu} GPU(s)"] if n_gpu else []) + ([f"{memory / 2**20:.0f} MB of memory"] if memory else [])
        if not needs:
            return ""
        if not self.autoscaling:
            resources = [n.get("Resources", {}) for n in self._nodes()]
            most = max((int(r.get("GPU", 0)) for r in resources), default=0)
            if n_gpu > most:
                total = sum(int(r.get("GPU", 0)) for r in resources)
                raise ResourceError(
                    f"{cls_name} asks for n_gpu={n_gpu}, but no node of this Ray cluster has that many GPUs (most on "
                    f"one node: {most}; whole cluster: {total}). Ask for fewer, or add GPU nodes to the cluster (an "
                    "autoscaling cluster: connect('ray', autoscaling=True) waits for Ray to add them).")
            most_mb = max((r.get("memory", 0) for r in resources), default=0) / 2**20
            if memory and memory / 2**20 > most_mb:
                raise ResourceError(
                    f"{cls_name} asks for max_memory={memory / 2**20:.0f} MB, but no node of this Ray cluster offers "
                    f"that much (most on one node: {most_mb:.0f} MB of Ray's 'memory' resource). Ask for less, or add "
                    "larger nodes (an autoscaling cluster: connect('ray', autoscaling=True)).")
        return f" (it needs {' and '.join(needs)})"

    # ------------------------------------------------------------------ data
    def put(self, obj: Any) -> RayObjectRef:
        return RayObjectRef(obj, self.ray.put(obj))

    def shared_array(self, shape: int | tuple[int, ...], dtype: Any, fill: Any) -> Any:
        raise _no_shared_memory("fastparl.shared_array()")

    def get_many(self, futures: Sequence[PendingResult], deadline: float | None) -> None:
        """One ``ray.get`` for many replies (a wake-up and a fetch for all, not one each)."""
        pending = [f for f in futures if isinstance(f.call_id, PendingCall)]
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self.ray.get([f.call_id.ref for f in pending], timeout=timeout)
        except Exception:  # noqa: BLE001 - a timeout or an actor's error: each future's result() reports its own
            return
        for f in pending:  # fetched: decoding each is now cheap
            f.resolve(*f.actor.result(f.call_id, None))

    def gpus(self) -> list[str]:
        return [f"{n.get('NodeManagerAddress')}/{i}" for n in self._nodes()
                for i in range(int(n.get("Resources", {}).get("GPU", 0)))]

    # ------------------------------------------------------------------ waiting
    def wait(self, futures: Sequence[PendingResult], num_returns: int, deadline: float | None) -> None:
        refs = [f.call_id.ref for f in futures if isinstance(f.call_id, PendingCall)]
        if len(refs) < len(futures) or not refs:  # not ours: nothing to wait on here
            return
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.ray.wait(refs, num_returns=min(num_returns, len(refs)), timeout=timeout, fetch_local=False)

    # ------------------------------------------------------------------ ending
    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.ray.is_initialized():
            for actor in list(self.actors):
                actor.kill(ActorDiedError(f"actor {actor.cls_name} (pid {actor.pid}) was stopped by "
                                          "fastparl.disconnect(); create a new one"))
            if self.owns_ray:
                self.ray.shutdown()
        if self.owns_ray:  # ray.init points breakpoint() at Ray's debugger
            if self._breakpoint_env is None:
                os.environ.pop("PYTHONBREAKPOINT", None)
            else:
                os.environ["PYTHONBREAKPOINT"] = self._breakpoint_env
        self._remove_files()
        self.close_wake_pipe()

    def _remove_files(self) -> None:
        if self.files_dir is not None:
            shutil.rmtree(self.files_dir, ignore_errors=True)
            self.files_dir = None


def _no_shared_memory(what: str) -> FastparlError:
    return FastparlError(f"{what} is not possible on the 'ray' backend: {RayBackend.instead['shared_memory']}")


def _gather(patterns: Sequence[str]) -> str:
    """Copy ``distributed_files`` (paths or globs, like PARL) into a fresh directory for Ray's ``working_dir``."""
    import glob
    import tempfile

    root = tempfile.mkdtemp(prefix="fastparl-ray-files-")
    for pattern in patterns:
        for path in glob.glob(pattern) or [pattern]:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"distributed_files: {path!r} is not a file")
            name = os.path.relpath(path) if not os.path.isabs(path) else os.path.basename(path)
            if name.startswith(".."):
                name = os.path.basename(path)
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            shutil.copy2(path, os.path.join(root, name))
    return root
