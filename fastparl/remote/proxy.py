"""``@remote_class``: turn a class into one whose instances live in another process.

The decorated name becomes a *proxy class*: it keeps the original's name, docstring and the
signatures of its methods (for ``help()`` and IDEs), ``isinstance(proxy, Decorated)`` holds, and
it can be subclassed (the subclass is a remote class too).  Each method becomes a stub that
checks its arguments in the caller, like a local call would, then forwards the call.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Callable

from fastparl.remote import api
from fastparl.remote.backend import ActorHandle
from fastparl.remote.error_messages import no_pickle
from fastparl.remote.protocol import CALLABLE_ATTR

__all__ = ["remote_class", "RemoteProxy", "method_names"]

_OPTIONS = ("wait", "max_memory", "n_gpu", "max_restarts", "max_task_retries")
_SIMPLE = (type(None), bool, int, float, complex, str, bytes)


class RemoteProxy:
    """Base of every proxy class.  Instances hold an :class:`~fastparl.remote.backend.ActorHandle`."""

    _fp_cls: type
    _fp_opts: dict[str, Any]
    _fp_actor: ActorHandle
    _fp_wait: bool

    def __init_subclass__(cls, _fp_generated: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not _fp_generated:  # a user subclass of a decorated class: make it a remote class too
            _adopt_subclass(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        real = cls._fp_cls
        try:
            inspect.signature(real).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{real.__name__}(): {e}") from None
        except ValueError:  # no signature available (builtin base class): let the actor check
            pass
        object.__setattr__(self, "_fp_wait", bool(cls._fp_opts.get("wait", True)))
        object.__setattr__(self, "_fp_actor", None)
        backend = api.current_backend()
        opts = cls._fp_opts
        actor: ActorHandle
        if opts.get("max_restarts"):
            from fastparl.remote.restarts import RestartingActor

            actor = RestartingActor(backend, real, args, kwargs, opts)
        else:
            actor = backend.create_actor(real, args, kwargs, opts)
        object.__setattr__(self, "_fp_actor", actor)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_fp_") or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        actor = self._fp_actor
        value = actor.getattr(name)
        if value is CALLABLE_ATTR:
            wait = self._fp_wait
            return lambda *args, **kwargs: actor.call(name, args, kwargs, wait)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_fp_"):
            object.__setattr__(self, name, value)
        else:
            self._fp_actor.setattr(name, value)

    def __reduce__(self) -> Any:
        no_pickle(self)

    def __repr__(self) -> str:
        actor = self.__dict__.get("_fp_actor")
        pid = getattr(actor, "pid", "?")
        return f"<remote {type(self)._fp_cls.__qualname__} actor pid={pid}>"

    def __dir__(self) -> list[str]:
        return sorted(set(dir(type(self)._fp_cls)) | set(object.__dir__(self)))

    def __del__(self) -> None:
        actor = self.__dict__.get("_fp_actor")
        if actor is not None:
            try:
                actor.release()  # the actor ends once no future of it is pending
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


def remote_class(cls: type | None = None, **options: Any) -> Any:
    """Decorate a class so that each instance runs in its own process (PARL's ``@parl.remote_class``).

    Usable bare (``@remote_class``) or with options (``@remote_class(wait=False, max_memory=512, n_gpu=1)``).

    Args:
        cls: the class (when used bare).
        wait: if False, every method call returns a :class:`fastparl.Future` at once (PARL's ``wait=False``).
        max_memory: MB of private memory the actor may use; above it the actor is stopped and the next
            call raises :class:`fastparl.errors.ResourceError`.
        n_gpu: GPUs to give the actor exclusively, through ``CUDA_VISIBLE_DEVICES`` (0 hides all GPUs).
        max_restarts: when the actor dies, re-create it from its constructor arguments up to this many
            times (-1: always; Ray's name); its state is lost.  See :mod:`fastparl.remote.restarts`.
        max_task_retries: calls running when the actor died are sent again to the new instance up to
            this many times (-1: always); otherwise they raise ``ActorDiedError``.  Retried calls are
            at-least-once: use it for idempotent methods.

    Returns:
        The proxy class, or a decorator when called with options only.
    """
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise TypeError(f"remote_class() got unknown option(s) {sorted(unknown)}; the options are {list(_OPTIONS)}")
    wait = options.get("wait", True)
    if not isinstance(wait, bool):
        raise TypeError(f"remote_class(wait=...) takes True or False, got {wait!r}")
    max_memory = options.get("max_memory")
    if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, (int, float))
                                   or max_memory <= 0):
        raise ValueError(f"remote_class(max_memory=...) takes a positive number of MB or None, got {max_memory!r}")
    n_gpu = options.get("n_gpu", 0)
    if isinstance(n_gpu, bool) or not isinstance(n_gpu, int) or n_gpu < 0:
        raise ValueError(f"remote_class(n_gpu=...) takes a whole number >= 0, got {n_gpu!r}")
    for name in ("max_restarts", "max_task_retries"):
        value = options.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise ValueError(f"remote_class({name}=...) takes a whole number >= 0, or -1 for no limit; got {value!r}")
    opts = {"wait": wait, "max_memory": max_memory, "n_gpu": n_gpu,
            "max_restarts": options.get("max_restarts", 0), "max_task_retries": options.get("max_task_retries", 0)}
    if cls is None:
        return lambda c: _make(c, opts)
    return _make(cls, opts)


def _make(cls: Any, opts: dict[str, Any]) -> type:
    if not isinstance(cls, type):
        raise TypeError(f"@remote_class decorates classes, not {type(cls).__name__} {cls!r}; to run a function "
                        "remotely, make it a method of a class")
    if isinstance(cls, type) and issubclass(cls, RemoteProxy):
        raise TypeError(f"{cls.__name__} is already a remote class; decorate it once")
    ns: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                          "_fp_cls": cls, "_fp_opts": opts}
    for name in method_names(cls):
        ns[name] = _stub(name, inspect.getattr_static(cls, name))
    proxy = types.new_class(cls.__name__, (RemoteProxy,), {"_fp_generated": True}, lambda d: d.update(ns))
    _set_init_signature(proxy, cls)
    return proxy


def method_names(cls: type) -> list[str]:
    """The methods of ``cls`` (and its bases) that a proxy forwards: public or single-underscore, not dunder.

    The one rule for every backend: the Ray backend makes one Ray method of each (see
    :mod:`fastparl.remote.ray.host`)."""
    names = []
    for klass in reversed(cls.__mro__[:-1]):
        for name, attr in vars(klass).items():
            if name.startswith("__") or name.startswith("_fp_"):
                continue
            if isinstance(attr, (types.FunctionType, staticmethod, classmethod)) and name not in names:
                names.append(name)
    return names


def _set_init_signature(proxy: type, real: type) -> None:
    try:
        sig = inspect.signature(real)
        proxy.__signature__ = sig  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass


def _adopt_subclass(cls: type) -> None:
    parents = [b for b in cls.__bases__ if issubclass(b, RemoteProxy) and b is not RemoteProxy]
    if not parents:  # a bare RemoteProxy subclass: cloudpickle rebuilding a proxy class (its state follows)
        return
    real_bases = tuple(getattr(b, "_fp_cls", b) if b in parents else b for b in cls.__bases__)
    own = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
    class_cell = types.CellType()
    real_ns = {k: _rebind_class_cell(v, class_cell) for k, v in own.items()}
    real = type(cls.__name__, real_bases, real_ns)
    real.__qualname__ = cls.__qualname__
    class_cell.cell_contents = real  # zero-argument super() in the real methods sees the real class
    setattr(cls, "_fp_cls", real)  # noqa: B010 - a class attribute the type checker does not know
    setattr(cls, "_fp_opts", dict(parents[0]._fp_opts))  # noqa: B010
    for name in list(own):
        if not name.startswith("__") and isinstance(own[name], (types.FunctionType, staticmethod, classmethod)):
            setattr(cls, name, _stub(name, own[name]))
    _set_init_signature(cls, real)


def _rebind_class_cell(value: Any, cell: Any) -> Any:
    """A copy of a function (or static/class method) whose ``__class__`` cell is ``cell``."""
    wrapper = type(value) if isinstance(value, (staticmethod, classmethod)) else None
    fn = value.__func__ if wrapper else value
    code = getattr(fn, "__code__", None)
    if not isinstance(fn, types.FunctionType) or code is None or "__class__" not in code.co_freevars:
        return value
    closure = list(fn.__closure__ or ())
    closure[code.co_freevars.index("__class__")] = cell
    new = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, tuple(closure))
    new.__kwdefaults__, new.__qualname__, new.__doc__ = fn.__kwdefaults__, fn.__qualname__, fn.__doc__
    new.__dict__.update(fn.__dict__)
    return wrapper(new) if wrapper else new


def _stub(name: str, attr: Any) -> Callable[..., Any]:
    """A method that forwards to the actor, with the original's signature checked by Python itself."""
    func = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
    stub = None
    if isinstance(attr, types.FunctionType):
        stub = _generated_stub(name, attr)
    if stub is None:
        def stub(self: RemoteProxy, *args: Any, **kwargs: Any) -> Any:
            return self._fp_actor.call(name, args, kwargs, self._fp_wait)
    stub.__name__ = name
    stub.__qualname__ = getattr(func, "__qualname__", name)
    stub.__doc__ = getattr(func, "__doc__", None)
    stub.__module__ = getattr(func, "__module__", None) or __name__
    setattr(stub, "__wrapped__", func)  # noqa: B010 - help() and inspect.signature show the original
    return stub


def _generated_stub(name: str, func: types.FunctionType) -> Callable[..., Any] | None:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return None
    params = params[1:]
    text, pos, kw, env = [], [], [], {}
    star_kw = None
    seen_kwonly = False
    for i, p in enumerate(params):
        if not p.name.isidentifier() or p.name.startswith("_fp_") or p.name == "self":
            return None
        piece = p.name
        if p.default is not p.empty:
            if not _is_simple(p.default):
                return None
            env[f"_fp_d{i}"] = p.default
            piece += f"=_fp_d{i}"
        if p.kind == p.POSITIONAL_ONLY:
            pos.append(p.name)
        elif p.kind == p.POSITIONAL_OR_KEYWORD:
            pos.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            pos.append("*" + p.name)
            piece = "*" + p.name
            seen_kwonly = True
        elif p.kind == p.KEYWORD_ONLY:
            if not seen_kwonly:
                text.append("*")
                seen_kwonly = True
            kw.append(p.name)
        elif p.kind == p.VAR_KEYWORD:
            star_kw = p.name
            piece = "**" + p.name
        text.append(piece)
        if p.kind == p.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind != p.POSITIONAL_ONLY):
            text.append("/")
    args_expr = "(" + "".join(f"{a}, " for a in pos) + ")"
    kw_items = [f"{k!r}: {k}" for k in kw] + ([f"**{star_kw}"] if star_kw else [])
    kw_expr = "{" + ", ".join(kw_items) + "}" if kw_items else "None"
    src = (f"def {name}(_fp_self, {', '.join(text)}):\n"
           f"    return _fp_self._fp_actor.call({name!r}, {args_expr}, {kw_expr}, _fp_self._fp_wait)\n")
    try:
        exec(compile(src, f"<fastparl stub {name}>", "exec"), env)
    except SyntaxError:
        return None
    return env[name]


def _is_simple(value: Any) -> bool:
    if isinstance(value, _SIMPLE):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_simple(v) for v in value)
    return False
