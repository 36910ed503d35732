"""The values expressions compute with, and the Terraform functions evaluate() knows.

A function gets evaluated arguments (which may be or hold UNKNOWN) and returns a value, UNKNOWN, or
raises EvalError when Terraform would reject the call. `try()` is not here: it needs its arguments
unevaluated (expressions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scanner.documents.tree import LDict, LList, Unknown

UNKNOWN = Unknown("unknown")


class EvalError(Exception):
    """The expression is wrong for these values (a missing key, a bad type): `try()` catches it."""




def known(value: Any) -> bool:
    """True when no part of the value is unknown."""
    if isinstance(value, Unknown):
        return False
    if isinstance(value, dict):
        return all(known(v) for v in value.values())
    if isinstance(value, list):
        return all(known(v) for v in value)
    return True



def to_string(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


def to_number(value: Any) -> float:
    if isinstance(value, bool):
        raise EvalError("not a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            raise EvalError("not a number") from None
    raise EvalError("not a number")




def _needs_known(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if not all(known(a) for a in args):
            return UNKNOWN
        return fn(*args)

    return wrapped


def _merge(*maps: Any) -> Any:
    out = LDict()
    for m in maps:
        if m is None:
            continue
        if isinstance(m, Unknown):
            return UNKNOWN
        if not isinstance(m, dict):
            raise EvalError("merge needs maps")
        for k, v in m.items():
            out[k] = v
            out.key_lines[k] = m.key_lines.get(k, 0) if isinstance(m, LDict) else 0
    return out


def _concat(*lists: Any) -> Any:
    out = LList()
    for seq in lists:
        if isinstance(seq, Unknown):
            return UNKNOWN
        if not isinstance(seq, list):
            raise EvalError("concat needs lists")
        out.extend(seq)
        out.item_lines.extend(getattr(seq, "item_lines", None) or [0] * len(seq))
    return out


def _lookup(m: Any, key: Any, *default: Any) -> Any:
    if isinstance(m, Unknown) or isinstance(key, Unknown):
        return UNKNOWN
    if not isinstance(m, dict):
        raise EvalError("lookup needs a map")
    if key in m:
        return m[key]
    if default:
        return default[0]
    raise EvalError("lookup: no such key")


def _tostring(v: Any) -> Any:
    if v is None:
        return None
    text = to_string(v)
    if text is None:
        raise EvalError("tostring needs a primitive")
    return text


def _tobool(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if v in ("true", "false"):
        return v == "true"
    raise EvalError("tobool")


def _tonumber(v: Any) -> Any:
    return None if v is None else to_number(v)


def _format(fmt: Any, *args: Any) -> Any:
    if not isinstance(fmt, str):
        raise EvalError("format needs a string")
    out, i, arg = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1 : i + 2]
        if verb == "%":
            out.append("%")
        elif verb in ("s", "d", "v") and arg < len(args):
            text = to_string(args[arg])
            if text is None:
                return UNKNOWN
            out.append(text)
            arg += 1
        else:
            return UNKNOWN  # widths, precision, %q, %#v...: not worth guessing
        i += 2
    return "".join(out)


def _coalesce(*args: Any) -> Any:
    for a in args:
        if isinstance(a, Unknown):
            return UNKNOWN
        if a is not None and a != "":
            return a
    raise EvalError("coalesce: no non-empty argument")


def _same_value(v: Any) -> Any:
    return v


def _length(v: Any) -> Any:
    if isinstance(v, (list, dict, str)):
        return len(v)
    raise EvalError("length")


def _string_fn(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def wrapped(v: Any) -> Any:
        if not isinstance(v, str):
            raise EvalError("needs a string")
        return fn(v)

    return wrapped


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "merge": _merge,
    "concat": _concat,
    "lookup": _lookup,
    "jsonencode": _same_value,
    "tolist": _same_value,
    "toset": _same_value,
    "tomap": _same_value,
    "tostring": _needs_known(_tostring),
    "tobool": _needs_known(_tobool),
    "tonumber": _needs_known(_tonumber),
    "lower": _needs_known(_string_fn(str.lower)),
    "upper": _needs_known(_string_fn(str.upper)),
    "format": _needs_known(_format),
    "coalesce": _coalesce,
    "length": _needs_known(_length),
}
