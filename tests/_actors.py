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
        import mmap

        owner = arr
        while isinstance(owner, np.ndarray) and owner.base is not None:
            owner = owner.base
        return isinstance(owner, mmap.mmap), bool(arr.flags.writeable)

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
