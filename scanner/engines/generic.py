"""Operators that hold for any document kind (the `items` relation is in documents/items.py).

- operator `covers_port` (value: a port number, a list of them, or "all"): the field is a port
  specification that includes the port, as clouds write them: 22, "22", "20-30", "*", "0-65535",
  "22,3389". With "all", the specification covers every port (0/1 to 65535, or "*").
- operator `expression_matches` (value: RE2 pattern): the field is an expression known only at apply
  time (a reference such as `data.azurerm_subscription.current.id`) whose text matches. A known value
  is false: rules use it to recognise what a reference points at, never to guess its value.
"""

from __future__ import annotations

from typing import Any

from scanner.documents.tree import Beyond, Unknown

PORT_MAX = 65535


def _ranges(spec: Any) -> list[tuple[int, int]] | None:
    """The port ranges a specification covers; None when it is not a port specification."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, (int, float)):
        return [(int(spec), int(spec))]
    if not isinstance(spec, str):
        return None
    out = []
    for part in spec.replace(" ", "").split(","):
        if part in ("*", "any", "Any"):
            out.append((0, PORT_MAX))
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            return None
        out.append((min(a, b), max(a, b)))
    return out


def covers_port(actual: Any, expected: Any) -> bool | None:
    if isinstance(actual, Unknown):
        return None
    ranges = _ranges(actual)
    if ranges is None:
        return False
    if expected == "all":
        return any(lo <= 1 and hi >= PORT_MAX for lo, hi in ranges)
    ports = expected if isinstance(expected, list) else [expected]
    return any(lo <= int(p) <= hi for p in ports for lo, hi in ranges)


def expression_matches(actual: Any, expected: Any) -> bool | None:
    from scanner.engines.policy import _regex  # one compiled-pattern cache for every operator

    if isinstance(actual, Beyond):
        return None
    return isinstance(actual, Unknown) and _regex(str(expected)).Match(actual.text) is not None


OPERATORS = {"covers_port": covers_port, "expression_matches": expression_matches}
