"""How a class travels to an actor: a *spec* the actor turns back into the class.

By reference (``("ref", module, qualname)``) when the actor can import the class's module, else
by value (``("value", cloudpickled class, {source path: text})``); in the caller's own process
(serial backend) the class itself (``("obj", cls)``).  :func:`class_spec` is the driver's side,
:func:`resolve_class` the actor's (run by :class:`~fastparl.remote.dispatcher.Dispatcher` for ``INIT``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import linecache
import os
import pickle
import sys
import weakref
from typing import Any

import cloudpickle

from fastparl.remote import serialization

__all__ = ["class_spec", "resolve_class"]

_ref_specs: "weakref.WeakKeyDictionary[type, tuple]" = weakref.WeakKeyDictionary()


def class_spec(cls: type, remote: bool = False) -> tuple:
    """How to ship ``cls`` to an actor: by reference when the actor can import it, else by value.

    By reference needs the class's module to be importable from ``sys.path`` (which a local actor
    receives): classes of ``__main__``, of functions' bodies, or of modules loaded from a file
    path under a made-up name go by value (cloudpickle), pickled anew for each actor so that the
    actor sees the module's globals as they are now, not as they were for the first actor.  For an
    actor on another host (``remote``), only classes of installed packages go by reference: the
    user's own modules are not there.
    """
    spec = None if remote else _ref_specs.get(cls)
    if spec is not None:
        return spec
    module = getattr(cls, "__module__", None)
    qualname = getattr(cls, "__qualname__", "")
    if remote and module and not _installed(module):
        return ("value", *_dumps_by_value(cls, module))
    if module and module != "__main__" and "<locals>" not in qualname and _importable(module):
        try:
            found = _lookup(module, qualname)
            if getattr(found, "_fp_cls", found) is cls:
                spec = ("ref", module, qualname)
                _ref_specs[cls] = spec
                return spec
        except Exception:  # noqa: BLE001 - ship by value
            pass
    return ("value", *_dumps_by_value(cls, module))


def _dumps_by_value(cls: type, module: str | None) -> tuple[bytes, dict[str, str]]:
    """cloudpickle ``cls`` with its module's contents by value (cloudpickle alone would refer to
    a module that sits in ``sys.modules`` by name, which the actor may not be able to import)."""
    mod = sys.modules.get(module or "")
    registered = False
    if mod is not None and module != "__main__":
        try:
            cloudpickle.register_pickle_by_value(mod)
            registered = True
        except ValueError:
            pass
    try:
        data = serialization.cloud_dumps(cls)
    finally:
        if registered:
            cloudpickle.unregister_pickle_by_value(mod)
    return data, _sources(cls)


def _sources(cls: type) -> dict[str, str]:
    """The source files of ``cls``'s methods, so that an actor on a host without them can still show
    source lines in tracebacks (see :func:`resolve_class`)."""
    files = {}
    for klass in cls.__mro__[:-1]:
        try:
            path = inspect.getsourcefile(klass)
        except (TypeError, OSError):
            continue
        if path and os.path.isfile(path) and path not in files and os.path.getsize(path) < 1 << 20:
            with open(path, encoding="utf-8", errors="replace") as f:
                files[path] = f.read()
    return files


def _installed(module: str) -> bool:
    """Whether ``module`` comes with Python, fastparl or an installed package (not the user's own files)."""
    top = module.partition(".")[0]
    if top == "fastparl" or top in sys.builtin_module_names:
        return True
    path = getattr(sys.modules.get(top), "__file__", None)
    if path is None:
        return False
    path = os.path.realpath(path)
    return any(path.startswith(root + os.sep) for root in _install_roots())


def _install_roots() -> set[str]:
    import sysconfig

    paths = sysconfig.get_paths()
    return {os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}


def _importable(module: str) -> bool:
    top = module.partition(".")[0]
    if top in sys.builtin_module_names:
        return True
    try:
        return importlib.machinery.PathFinder.find_spec(top, sys.path) is not None
    except (ImportError, ValueError):
        return False


def _lookup(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def resolve_class(spec: tuple) -> type:
    """The class a spec names: ``("ref", module, qualname)``, ``("value", pickled)`` or, in the
    caller's own process (serial backend), ``("obj", cls)``."""
    if spec[0] == "ref":
        obj = _lookup(spec[1], spec[2])
    elif spec[0] == "obj":
        obj = spec[1]
    else:
        for path, text in (spec[2] if len(spec) > 2 else {}).items():
            if not os.path.exists(path):  # another host: let tracebacks show the driver's source lines
                linecache.cache[path] = (len(text), None, text.splitlines(True), path)
        obj = pickle.loads(spec[1])
    return getattr(obj, "_fp_cls", obj)  # a decorated class resolves to the proxy: take the real one
