"""Every public PARL name recorded in ``parl_signatures.json`` exists in fastparl and accepts every call PARL's does.

The file holds PARL 2.2.1's signatures, parsed from its source by ``record_parl_signatures.py``.
A fastparl signature is compatible when, for each PARL parameter, fastparl has one of the same name at
the same position (so positional and keyword calls both work), a PARL default is kept (a PARL default
of ``None`` may become a real value: PARL uses ``None`` for "must be given"), and every extra fastparl
parameter has a default.  PARL's ``*args``/``**kwargs`` need the same in fastparl.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
from typing import Any

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "parl_signatures.json"), encoding="utf-8") as _f:
    PARL: dict[str, list[Any]] = json.load(_f)

# PARL names fastparl does not match yet, and why.  Each is an expected failure (not strict: it may be fixed
# by the code's owner before this list is updated); the README's compatibility table lists them.
KNOWN: dict[str, str] = {
    "parl.remote.client.connect": "fastparl's first parameter is named 'address' (the DESIGN contract: connect(address=None, ...)); PARL's keyword "
                                  "connect(master_address=...) is accepted too (tests/unit/remote/test_api_checks.py: test_connect_rules)",
}
# PARL names whose recorded signature is a generic (*args, **kwargs) wrapper: what they actually accept.
EFFECTIVE: dict[str, list[str]] = {
    # one class positionally (bare decorator) or keyword options only (wait, max_memory, n_gpu)
    "parl.remote.remote_decorator.remote_class": ["cls=None", "**kwargs"],
}

_KIND = inspect.Parameter


def _resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted``, then follow attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def _parse(params: list[str]) -> list[tuple[str, Any, str | None]]:
    """``["self", "x=1", "*", "k=2", "**kw"]`` -> ``[(name, kind, default source or None)]``."""
    out: list[tuple[str, Any, str | None]] = []
    kind = _KIND.POSITIONAL_OR_KEYWORD
    for p in params:
        if p == "/":
            out = [(n, _KIND.POSITIONAL_ONLY, d) for n, _, d in out]
        elif p == "*":
            kind = _KIND.KEYWORD_ONLY
        elif p.startswith("**"):
            out.append((p[2:], _KIND.VAR_KEYWORD, None))
        elif p.startswith("*"):
            out.append((p[1:], _KIND.VAR_POSITIONAL, None))
            kind = _KIND.KEYWORD_ONLY
        else:
            name, _, default = p.partition("=")
            out.append((name, kind, default or None))
    return out


def _same_default(parl_src: str, ours: Any) -> bool:
    try:
        value = ast.literal_eval(parl_src)
    except ValueError:
        return True  # not a literal (a name or a call): cannot compare, accept
    return value is None or (ours is not _KIND.empty and ours == value)


def incompatibilities(parl_params: list[str], func: Any) -> list[str]:
    """What a PARL call could do that ``func`` does not accept (empty when compatible)."""
    theirs = _parse(parl_params)
    ours = list(inspect.signature(func).parameters.values())
    kinds = {p.kind for p in ours}
    problems = []
    if any(k == _KIND.VAR_POSITIONAL for _, k, _ in theirs) and _KIND.VAR_POSITIONAL not in kinds:
        problems.append("PARL takes *args")
    if any(k == _KIND.VAR_KEYWORD for _, k, _ in theirs) and _KIND.VAR_KEYWORD not in kinds:
        problems.append("PARL takes **kwargs")
    positional = [p for p in ours if p.kind in (_KIND.POSITIONAL_ONLY, _KIND.POSITIONAL_OR_KEYWORD)]
    named = {p.name: p for p in ours}
    i = 0
    for name, kind, default in theirs:
        if kind in (_KIND.VAR_POSITIONAL, _KIND.VAR_KEYWORD):
            continue
        if kind != _KIND.KEYWORD_ONLY:
            if i >= len(positional) or positional[i].name != name:
                if _KIND.VAR_POSITIONAL in kinds and _KIND.VAR_KEYWORD in kinds:
                    continue  # (*args, **kwargs) accepts it
                got = positional[i].name if i < len(positional) else "nothing"
                problems.append(f"positional parameter {i} is {got!r}, PARL's is {name!r}")
                continue
            p = positional[i]
            i += 1
        else:
            if name not in named:
                if _KIND.VAR_KEYWORD not in kinds:
                    problems.append(f"no keyword parameter {name!r}")
                continue
            p = named[name]
        if default is not None and not _same_default(default, p.default):
            problems.append(f"{name}: PARL's default is {default}, fastparl's is {p.default!r}")
    parl_names = {n for n, _, _ in theirs}
    for p in ours:
        if p.name not in parl_names and p.default is _KIND.empty and p.kind not in (_KIND.VAR_POSITIONAL,
                                                                                    _KIND.VAR_KEYWORD):
            problems.append(f"fastparl requires {p.name!r}, which PARL does not have")
    return problems


def _cases() -> list[Any]:
    cases = []
    for parl_name in sorted(PARL):
        marks = [pytest.mark.xfail(reason=KNOWN[parl_name], strict=False)] if parl_name in KNOWN else []
        cases.append(pytest.param(parl_name, marks=marks, id=parl_name.removeprefix("parl.")))
    return cases


@pytest.mark.parametrize("parl_name", _cases())
def test_signature_matches_parl(parl_name):
    target, params = PARL[parl_name]
    params = EFFECTIVE.get(parl_name, params)
    try:
        func = _resolve(target)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{parl_name}: fastparl has no {target} ({exc})")
    assert incompatibilities(params, func) == [], f"{parl_name} -> {target}{inspect.signature(func)}"


def test_the_checker_catches_incompatible_signatures():
    def renamed(self, observation): ...
    def extra_required(self, obs, rng): ...
    def changed_default(self, obs, decay=0.5): ...
    def superset(self, obs, decay=0.0, *, rng=None): ...
    def no_kwargs(self): ...

    assert incompatibilities(["self", "obs"], renamed)
    assert incompatibilities(["self", "obs"], extra_required)
    assert incompatibilities(["self", "obs", "decay=0.0"], changed_default)
    assert incompatibilities(["self", "obs", "decay=0.0"], superset) == []
    assert incompatibilities(["self", "obs", "gamma=None"], lambda self, obs, gamma=0.9: None) == []
    assert incompatibilities(["self", "**kwargs"], no_kwargs)
