"""BuildKit's Dockerfile parser in linear time.

The Go parser (the `dockerfile` package) grows an instruction one physical line at a time: an
instruction of N continuation lines, or a heredoc of N lines, costs N^2 (a 600 KB `RUN` of 40,000
`\\`-continued lines takes 4 s, a 4 MB one minutes, and a Go call cannot be interrupted by the
`--timeout` alarm). So before it is called, every long instruction is made short without changing
what it means:

- its continuation lines are joined into physical lines of up to JOIN_BYTES, exactly as BuildKit
  joins them (the escape character and the line break removed, comment and blank lines inside the
  instruction dropped);
- the bodies of its heredocs are taken out, and put back into the parsed commands afterwards.

The commands' line numbers are mapped back to the file's. Short instructions (the usual Dockerfile)
go to the parser untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

LONG_LINES = 64  # an instruction spanning more physical lines than this is made short
JOIN_BYTES = 16 * 1024  # BuildKit's scanner refuses lines over 64 KiB
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z0-9_.\-]+)\2")
_HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})


def parse_commands(text: str, escape: str = "\\") -> list[Any]:
    """`dockerfile.parse_string(text)`, in time linear in the text (see the module docstring)."""
    import dockerfile as bk

    lines = text.split("\n")
    if len(lines) <= LONG_LINES:
        return list(bk.parse_string(text))
    fed, first, last, bodies = _shorten(lines, escape)
    if not bodies and len(fed) == len(lines):
        return list(bk.parse_string(text))
    commands = []
    for cmd in bk.parse_string("\n".join(fed)):
        start, end = first[cmd.start_line - 1], last[cmd.end_line - 1]
        changes: dict[str, Any] = {"start_line": start, "end_line": end}
        restored = bodies.get(cmd.start_line)
        if restored is not None and len(restored) == len(cmd.heredocs):
            changes["heredocs"] = tuple(h._replace(content=c) for h, c in zip(cmd.heredocs, restored, strict=True))
        commands.append(cmd._replace(**changes))
    return commands


def _shorten(
    lines: Sequence[str], escape: str
) -> tuple[list[str], list[int], list[int], dict[int, list[str]]]:
    """The lines to parse, the file line each one starts and ends on (1-based), and the heredoc
    bodies taken out, by the fed line their command starts on."""
    fed: list[str] = []
    first: list[int] = []
    last: list[int] = []
    bodies: dict[int, list[str]] = {}
    n = len(lines)
    i = 0
    while i < n:
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            fed.append(lines[i])
            first.append(i + 1)
            last.append(i + 1)
            i += 1
            continue
        content, end = _instruction(lines, i, escape)  # physical lines i..end-1
        heredocs = _heredoc_names(content)
        bodies_at, after = _heredoc_bodies(lines, end, heredocs)
        if after - i <= LONG_LINES:
            for k in range(i, after):
                fed.append(lines[k])
                first.append(k + 1)
                last.append(k + 1)
            i = after
            continue
        start_fed = len(fed) + 1
        joined = _join(content, escape)
        for number, piece in enumerate(joined):
            fed.append(piece)
            first.append(i + 1 if number == 0 else end)
            last.append(end if number == len(joined) - 1 else i + 1)
        if heredocs:
            bodies[start_fed] = [body for body, _ in bodies_at]
            for _body, terminator_line in bodies_at:
                fed.append(lines[terminator_line - 1] if terminator_line else "")
                first.append(terminator_line or after)
                last.append(terminator_line or after)
        i = after
    return fed, first, last, bodies


def _continues(line: str, escape: str) -> bool:
    return line.rstrip(" \t\r").endswith(escape)


def _instruction(lines: Sequence[str], i: int, escape: str) -> tuple[list[str], int]:
    """The content lines of the instruction starting at line i (comments and blank lines inside a
    continuation dropped, as BuildKit does) and the index after its last line."""
    content = [lines[i]]
    j = i + 1
    while _continues(content[-1], escape) and j < len(lines):
        stripped = lines[j].strip()
        if stripped and not stripped.startswith("#"):
            content.append(lines[j])
        j += 1
    return content, j


def _heredoc_names(content: list[str]) -> list[tuple[str, bool]]:
    words = content[0].split(None, 1)
    if not words or words[0].upper() not in _HEREDOC_COMMANDS or "<<" not in "".join(content):
        return []
    return [(m.group(3), m.group(1) == "-") for m in _HEREDOC.finditer("".join(content))]


def _heredoc_bodies(lines: Sequence[str], end: int, names: list[tuple[str, bool]]) -> tuple[list[tuple[str, int]], int]:
    """Each heredoc's body (text) and terminator line (1-based; 0: the file ended first), and the
    index after the last one."""
    out = []
    j = end
    for name, dash in names:
        body = []
        terminator = 0
        while j < len(lines):
            line = lines[j]
            j += 1
            if (line.lstrip("\t") if dash else line).rstrip("\r") == name:
                terminator = j
                break
            body.append(line)  # BuildKit keeps a <<- body's tabs here (they go when it is used)
        out.append(("".join(b + "\n" for b in body), terminator))
    return out, j


def _join(content: list[str], escape: str) -> list[str]:
    """The instruction's content lines joined as BuildKit joins them, in physical lines of up to
    JOIN_BYTES that still end with the escape character where the instruction goes on."""
    pieces = []
    for line in content[:-1]:
        cut = line.rstrip(" \t\r")
        pieces.append(cut[: -len(escape)])
    pieces.append(content[-1])
    out: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece) > JOIN_BYTES:
            out.append("".join(current) + escape)
            current, size = [], 0
        current.append(piece)
        size += len(piece)
    out.append("".join(current))
    return out
