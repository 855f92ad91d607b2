"""Actor classes used by the runtime tests (importable by actors: keep this module light)."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import fastparl


class Plain:
    """A plain class, decorated in the tests."""

    def __init__(self, start: int = 0, *, name: str = "p"):
        self.n = start
        self.name = name

    def add(self, k: int = 1) -> int:
        self.n += k
        return self.n

    def echo(self, *args, **kwargs):
        return args, kwargs

    def identity(self, x):
        return x

    def kwonly(self, a, /, b, *, c=3, **extra):
        return a, b, c, extra

    def sleep(self, s: float) -> float:
        time.sleep(s)
        return s

    def fail(self, msg: str = "bad thing"):
        raise ValueError(msg)

    def fail_custom(self):
        raise CustomError("custom", 42)

    def fail_unrenderable(self):
        raise UnrenderableError("x")

    def fail_unpicklable(self):
        import threading

        raise ValueError("holds a lock", threading.Lock())

    def pid(self) -> int:
        return os.getpid()

    def env(self, key: str):
        return os.environ.get(key)

    def total(self, arr) -> float:
        return float(np.asarray(arr, dtype=np.float64).sum())

    def fill(self, arr, value) -> None:
        arr[...] = value

    def make(self, n: int, dtype: str = "float32"):
        return np.arange(n, dtype=dtype)

    def unpicklable(self):
        return lambda_holder()

    def allocate(self, mb: int) -> int:
        self.hog = np.ones(mb * 2**20, dtype=np.uint8)
        return int(self.hog.size)

    def say(self, text: str) -> None:
        print(text)
        print(f"err:{text}", file=sys.stderr)

    def die(self, code: int = 3) -> None:
        print("about to die", file=sys.stderr, flush=True)
        os._exit(code)

    def writable(self, arr) -> bool:
        return bool(arr.flags.writeable)

    def view_info(self, arr):
        """(is a view of shared memory, writable) for an array this actor received."""
        from _procs import in_shared_memory

        return in_shared_memory(arr), bool(arr.flags.writeable)

    def keep(self, weights) -> float:
        """Keep a view of what we were sent (a put() object) beyond the call."""
        self.kept = weights["w"]
        return float(self.kept[0])

    def kept_first(self) -> float:
        return float(self.kept[0])

    def mean_of(self, weights) -> float:
        return float(np.mean([w.mean() for w in weights.values()]))

    @property
    def double(self) -> int:
        return 2 * self.n


class UnrenderableError(Exception):
    """An exception whose message cannot be rendered: ``str()`` of it raises."""

    def __str__(self):
        raise RuntimeError("no text for you")


class CustomError(Exception):
    def __init__(self, text, code):
        super().__init__(text, code)
        self.code = code


def lambda_holder():
    import threading

    return threading.Lock()


RemotePlain = fastparl.remote_class(Plain)


@fastparl.remote_class(wait=False)
class AsyncWorker:
    def __init__(self):
        self.calls = []

    def work(self, i: int) -> int:
        self.calls.append(i)
        return i * i

    def sleep(self, s: float) -> float:
        time.sleep(s)
        return s

    def history(self):
        return self.calls


@fastparl.remote_class
class Base:
    def __init__(self, x: int):
        self.x = x

    def get(self) -> int:
        return self.x

    def who(self) -> str:
        return "base"


class Faulty(Plain):
    """Plain, plus ways to fail: the fault suite (tests/reliability) decorates it."""

    def child(self, kind: str) -> int:
        """Start a child that would sleep for 120 s; returns its pid."""
        if kind == "mp":
            import multiprocessing as mp

            p = mp.get_context("fork").Process(target=time.sleep, args=(120,), daemon=False)
            p.start()
            self.kid = p
            return int(p.pid)
        if kind == "fork":
            pid = os.fork()
            if pid == 0:  # holds the actor's socket, as any forked child does
                time.sleep(120)
                os._exit(0)
            return pid
        if kind == "popen":
            import subprocess

            self.kid = subprocess.Popen(["sleep", "120"])
            return int(self.kid.pid)
        if kind == "daemon":  # a daemon: double fork and a session of its own (out of the actor's group)
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                if os.fork() == 0:
                    os.setsid()
                    os.write(w, str(os.getpid()).encode().ljust(16))
                    time.sleep(120)
                os._exit(0)
            os.waitpid(pid, 0)
            return int(os.read(r, 16))
        raise ValueError(kind)

    def segfault(self) -> None:
        import ctypes

        ctypes.string_at(0)

    def sys_exit(self, code: int) -> None:
        sys.exit(code)

    def busy(self, s: float) -> int:
        """Spin in Python for ``s`` seconds (no system call to interrupt)."""
        end = time.monotonic() + s
        n = 0
        while time.monotonic() < end:
            n += 1
        return n

    def wait_flag(self, flag, timeout: float) -> bool:
        """Wait until ``flag[0]`` (a shared array) is set by someone else."""
        end = time.monotonic() + timeout
        while not flag[0]:
            if time.monotonic() > end:
                return False
            time.sleep(0.001)
        return True

    def progress(self, n: int, width: int = 100, hold: float = 0.0) -> int:
        """Write ``n`` carriage-return updates of ``width`` bytes (a progress bar), then wait ``hold`` s."""
        for i in range(n):
            sys.stdout.write(f"{i:>{width - 1}}\r")
        sys.stdout.flush()
        time.sleep(hold)
        return n

    def foreign(self):
        """An object whose class only this process can import: its reply cannot be unpickled by the caller."""
        import types

        mod = types.ModuleType("fp_only_in_the_actor")
        exec("class Thing:\n    pass\n", mod.__dict__)
        sys.modules[mod.__name__] = mod
        return mod.Thing()

    def ignore(self, *args) -> None:
        return None

    def alone(self, tag):
        """Return ``tag`` after checking that no other call of this actor runs at the same time."""
        self.running = getattr(self, "running", 0) + 1
        try:
            time.sleep(0.0005)
            return tag if self.running == 1 else ("overlap", tag)
        finally:
            self.running -= 1

    def slow_make(self, s: float, n: int):
        time.sleep(s)
        return np.ones(n, np.uint8)

    def lower_fd_limit(self, n: int) -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (n, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


class Keeper(Faulty):
    """Keeps 1 of every 60 arrays it receives, as a replay buffer does; or returns arrays to keep."""

    def __init__(self):
        self.kept = []
        self.seen = 0

    def take(self, arr) -> None:
        self.seen += 1
        if self.seen % 60 == 0:
            self.kept.append(arr)

    def kept_bytes(self) -> int:
        return sum(a.nbytes for a in self.kept)


class FailsInit:
    def __init__(self, x):
        raise KeyError(f"no config {x}")


RemoteFaulty = fastparl.remote_class(Faulty)
AsyncFaulty = fastparl.remote_class(wait=False)(Faulty)
