"""Fix operations on Dockerfiles, as line edits in one stage.

`set: USER` with a value adds `USER value` to the stage: just before its CMD/ENTRYPOINT when nothing
but metadata instructions follows them, else at the end of the stage. A final stage always ends the
file, so "the end of the stage" is the end of the file there. Earlier instructions are never changed
(a `USER root` before `RUN apt-get install` is what that RUN needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scanner.fixers.yaml_edit import CannotFix

_METADATA = frozenset(("CMD", "ENTRYPOINT", "EXPOSE", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "VOLUME", "ENV", "WORKDIR"))


def apply(text: str, stage: Any, ops: Sequence[dict], final: bool) -> str:
    for op in ops:
        if op.get("set") != "USER":
            raise CannotFix("only 'set: USER' fixes apply to Dockerfiles")
        text = _add_user(text, stage, str(op["value"]), final)
    return text


def _add_user(text: str, stage: Any, user: str, final: bool) -> str:
    if not final:
        raise CannotFix("USER is only added to the final stage")
    instructions = list(stage.get("instructions", ()))
    lines = text.splitlines(keepends=True)
    line = 0
    for i, ins in enumerate(instructions):
        if ins.get("cmd") in ("CMD", "ENTRYPOINT") and all(later.get("cmd") in _METADATA for later in instructions[i:]):
            line = ins.line
            break
    newline = "\r\n" if text.endswith("\r\n") else "\n"
    if line:
        return "".join(lines[: line - 1]) + f"USER {user}{newline}" + "".join(lines[line - 1 :])
    if text and not text.endswith("\n"):
        text += newline
    return text + f"USER {user}{newline}"
