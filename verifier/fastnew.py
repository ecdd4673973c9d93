"""Constructors for frozen slots dataclasses that skip the generated ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` by name
(about 80 ns a field): a verdict has nineteen, and a batch of 1,000 typed ENPs makes a
verdict, a credential and a register summary per item. The function made here sets the
same slots through their bound descriptors (about half the cost) and every field it is not
given to the field's default, so the instance is exactly what ``cls(**kw)`` makes. Only for
classes without ``__post_init__`` and without ``default_factory`` fields (checked when the
maker is built), since there is nothing else ``__init__`` would do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def maker(cls: type[T], names: Sequence[str]) -> Callable[..., T]:
    """``f(*values)`` == ``cls(**dict(zip(names, values)))``, the other fields defaulted."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: not a slots dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: __post_init__ would be skipped")
    fields = dataclasses.fields(cls)  # init=False ones too
    known = {f.name for f in fields}
    if not set(names) <= known or len(set(names)) != len(names):
        raise TypeError(f"{cls.__name__}: unknown or repeated field in {names}")
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    obj = _new(_cls)"]
    for i, f in enumerate(fields):
        env[f"_set{i}"] = cls.__dict__[f.name].__set__
        if f.name in names:
            lines.append(f"    _set{i}(obj, {f.name})")
        elif f.default is not dataclasses.MISSING:
            env[f"_default{i}"] = f.default
            lines.append(f"    _set{i}(obj, _default{i})")
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no default to set")
    lines.append("    return obj")
    exec("\n".join(lines), env)  # noqa: S102 - source made above from field names only
    made: Callable[..., T] = env["make"]
    return made
