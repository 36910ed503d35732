"""Repositories named by URL (`scanner scan --history https://...`): cloned with GitPython into a
temporary bare repository that is removed afterwards, and how a repository is named in reports.

The clone runs git with the hardening every git command of the scanner has (git.py: no hooks, no
fsmonitor, no prompts) plus a protocol allowlist: https, ssh and file (`SCANNER_GIT_PROTOCOLS`,
colon-separated, replaces it, e.g. `https:ssh:file:git` for a git daemon), no submodules (a bare
clone has no work tree to put them in, and none is recursed), no credential prompt (terminal
prompts off, askpass refused, ssh in batch mode), no LFS smudge. Credentials in a URL are never
printed: reports and messages name the URL without its user and password.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from scanner import interrupts
from scanner.sources.git import SAFE_CONFIG, GitError, Repo, git_env, open_repo, run_git

DEFAULT_PROTOCOLS = ("https", "ssh", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:(?!//)")  # git@host:owner/repo.git


def is_url(target: str) -> bool:
    """A repository address rather than a local path: scheme://... or user@host:path."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target)) or bool(_SCP_LIKE.match(target))


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")  # scheme://user:password@
# scheme://user:pass/word@host: a password (or token) holding `/`, `?` or `#`, where urllib sees a
# host "user", a port "pass" that is no number, and no user info: whatever runs from the authority to
# the first `@` after the `:` goes. A port that is a number (host:8443/org/repo@v2.git) is a port.
_USERINFO_CUT = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(?![/\[])[^@/?#]*:[^@]*@")


def redact(url: str) -> str:
    """The URL without user name and password (reports, messages, SARIF), malformed or not."""
    if _SCP_LIKE.match(url):
        return url.split("@", 1)[1]
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            try:
                parts.port  # noqa: B018 - ValueError: "pass" of user:pass/word@ taken for a port
            except ValueError:
                return _USERINFO_CUT.sub(r"\1", url)
            return url
        host = parts.hostname or ""
        if parts.port:  # ValueError for a port that is not a number
            host += f":{parts.port}"
    except ValueError:  # not a URL urllib can take apart (a bad port, an unclosed [IPv6): cut its user info
        return _USERINFO_CUT.sub(r"\1", _USERINFO.sub(r"\1", url))
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def protocols() -> tuple[str, ...]:
    chosen = os.environ.get("SCANNER_GIT_PROTOCOLS", "").strip()
    return tuple(p for p in chosen.split(":") if p) if chosen else DEFAULT_PROTOCOLS


def _scheme(url: str) -> str:
    if _SCP_LIKE.match(url):
        return "ssh"
    return url.split("://", 1)[0].lower()


def clone_env() -> dict[str, str]:
    env = git_env()
    env.update({
        "GIT_ASKPASS": "false",  # no credential helper prompt: a private repository without credentials fails
        "SSH_ASKPASS": "false",
        "GIT_SSH_COMMAND": env.get("GIT_SSH_COMMAND") or "ssh -o BatchMode=yes",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROTOCOL_FROM_USER": "0",
    })  # fmt: skip
    env.pop("GIT_ALLOW_PROTOCOL", None)  # our allowlist below, not one inherited
    return env


def clone_options(allowed: tuple[str, ...]) -> list[str]:
    """`git -c` options of the clone: the scanner's hardening and the protocol allowlist."""
    out = [opt for opt in SAFE_CONFIG[1::2] if not opt.startswith("protocol.allow")]
    out += ["protocol.allow=never", *(f"protocol.{p}.allow=always" for p in allowed)]
    out += ["submodule.recurse=false", "fetch.recurseSubmodules=false", "credential.helper=", "core.askPass=false"]
    return out


@contextlib.contextmanager
def cloned(url: str) -> Iterator[str]:
    """A temporary bare clone of `url` (every branch and tag), removed on leaving the block."""
    import git  # GitPython

    shown = redact(url)
    allowed = protocols()
    if _scheme(url) not in allowed:
        raise GitError(f"{shown}: protocol '{_scheme(url)}' is not allowed (allowed: {', '.join(allowed)}; "
                       "SCANNER_GIT_PROTOCOLS changes the list)", usage=True)  # fmt: skip
    if url.startswith("-"):
        raise GitError(f"{shown}: not a repository URL", usage=True)
    folder = tempfile.mkdtemp(prefix="scanner-clone-")
    target = os.path.join(folder, "repo.git")
    try:
        try:
            _clone(git, folder, allowed, url, target)
        except git.GitCommandError as exc:
            raise GitError(f"{shown}: clone failed: {_first_error(exc, url, shown)}", usage=True) from None
        except git.GitCommandNotFound:
            raise GitError("git is not installed or not on PATH") from None
        _CLONES[os.path.realpath(target)] = shown
        yield target
    finally:
        _CLONES.pop(os.path.realpath(target), None)
        shutil.rmtree(folder, ignore_errors=True)


_CLONES: dict[str, str] = {}  # the real path of each clone `cloned` holds now -> its URL, without credentials


def cloned_from(git_dir: str) -> str | None:
    """The URL (without credentials) of a temporary clone `cloned` made and still holds, given its
    real path; None for any other repository. What names it in the cache's keys: every shard's
    clone of one URL is one history (listing_cache.listing_key), wherever its temporary folder is."""
    return _CLONES.get(git_dir)


def _clone(git, folder: str, allowed: tuple[str, ...], url: str, target: str) -> None:  # noqa: ANN001 - the GitPython module
    """`git clone --bare` through GitPython, in a session of its own: when the scan is interrupted
    (or fails) the whole session ends, not git alone: `index-pack` and the transport (`ssh`, the local
    `upload-pack`) are git's children and outlived it, writing into the folder being removed."""
    command = [git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"]
    for option in clone_options(allowed):
        command += ["-c", option]
    command += ["clone", "--bare", "--quiet", "--no-recurse-submodules", "--", url, target]
    handle = git.Git(folder).execute(command, env=clone_env(), as_process=True, start_new_session=True)
    proc = interrupts.track(handle.proc)
    try:
        _, err = proc.communicate()
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)  # the session's group: its id is git's pid
        raise
    finally:
        interrupts.finish(proc)
    if proc.returncode:
        raise git.GitCommandError([redact(url) if arg == url else arg for arg in command], proc.returncode, err)


def _first_error(exc: object, url: str, shown: str) -> str:
    stderr = str(getattr(exc, "stderr", "") or "")
    for line in stderr.replace("\\n", "\n").splitlines():
        line = re.sub(r"^stderr:\s*", "", line.strip()).strip("'").strip()  # GitPython's "stderr: '...'"
        if line and not line.startswith("hint:"):
            return line.removeprefix("fatal: ").removeprefix("error: ").replace(url, shown)
    return f"git exited with {getattr(exc, 'status', '?')}"


def label(target: str) -> str:
    """How a report names the repository or folder scanned: a URL without credentials; else the
    repository's origin URL when it has one (the same name on every machine of a CI matrix); else
    the absolute path of its top folder (or of the folder scanned, outside git)."""
    if is_url(target):
        return redact(target)
    path = Path(target)
    folder = path if path.is_dir() else path.parent
    try:
        return label_of(open_repo(folder))
    except GitError:  # not a repository: the folder
        return str(folder.resolve())


def label_of(repo: Repo) -> str:
    """`label` of a repository open_repo described (no git process)."""
    if repo.origin:
        return redact(repo.origin)
    return repo.top or repo.git_dir or str(Path(repo.root).resolve())


def revision(target: str) -> str:
    """HEAD's commit of the repository at `target`, or ''."""
    try:
        return run_git(target, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip().decode()
    except GitError:
        return ""
