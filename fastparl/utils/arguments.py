"""Command-line flags from a ``@dataclass`` of hyper-parameters (cleanrl's ``Args`` style).

Each field becomes ``--field-name`` with its default, its type (``int``, ``float``,
``str``; ``bool`` gives ``--flag/--no-flag``) and, as help text, the string literal written
just below the field (the same convention as cleanrl and tyro)::

    @dataclass
    class Args:
        seed: int = 0
        \"\"\"seed of the experiment\"\"\"

    args = parse_args(Args)
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ["field_docs", "parse_args"]

T = TypeVar("T")

_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str}


def field_docs(cls: type) -> dict[str, str]:
    """Map each field of ``cls`` (and of its dataclass bases) to the string literal that follows it
    in the class body; a subclass's text wins.

    Returns an empty dict when the source is not available (e.g. defined in a REPL).
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        docs.update(_own_field_docs(klass))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _kind(annotation: Any) -> tuple[str, Any]:
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    name = name.replace(" ", "")
    if "bool" in name.split("|"):  # bool, or bool | None (None: "use the preset")
        return "bool", bool
    for part in name.split("|"):
        if part in _TYPES:
            return part, _TYPES[part]
    return "str", str


def parse_args(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    """Parse ``argv`` into an instance of the dataclass ``cls``.

    Args:
        cls: a ``@dataclass`` whose fields all have defaults.
        argv: arguments without the program name; ``None`` means ``sys.argv[1:]``.
        description: the ``--help`` description (default: the first line of ``cls``'s docstring).

    Returns:
        ``cls(**parsed)``.

    Raises:
        TypeError: if ``cls`` is not a dataclass.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"parse_args expects a @dataclass class, got {cls!r}")
    docs = field_docs(cls)
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind, conv = _kind(f.type)
        help_text = docs.get(f.name, "")
        if kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            parser.add_argument(flag, type=conv, default=f.default, help=help_text, metavar=kind.upper())
    return cls(**vars(parser.parse_args(argv)))
