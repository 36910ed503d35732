"""`--shard K/N`: which part of a scan this process does, so that N copies of the same command (a CI
matrix, a Kubernetes Indexed Job) split one scan and `scanner merge` puts it back together.

The partition is deterministic and needs no coordination:

- history: by runs of one file's versions. Every shard lists the commits (the listing is where
  provenance comes from, and it gives every blob the path it came in with); in listing order, the
  blobs that came in at one path are cut into runs of HISTORY_RUN, and a run belongs to shard
  `blake2b(path, run number) mod N`. A shard reads and scans only its blobs, and records what
  `scanner merge` needs to fold them into the unsharded findings (sources/shard_record.py).
  Why runs of a file and not single blob ids: git stores a file's versions as delta chains, and
  `cat-file` inflates a version from its bases; split blob by blob, every shard re-inflates the
  bases the others read (4 shards of a 50,000-commit history run one after the other: 29.7 s of CPU
  blob by blob, 18.9 s by runs; one unsharded scan: 18.2 s). Runs, not whole files, so that one
  file with a huge history is still spread out.
- work tree: a file belongs to shard `blake2b(path) mod N` (secrets, and file-local policy:
  Dockerfile, Compose), except the files whose documents policy rules relate across files
  (Kubernetes, Terraform: NetworkPolicy selection, RBAC, Kustomize, modules). Those all belong to
  one shard, the first, secrets included: partitioning by path cannot change the relations, nor the
  choice between a secrets finding and a policy finding on the same line (scan.one_report_per_secret),
  and no file is parsed by two shards. The first shard reads every file to know which are those
  (a module's `claims` looks at the content); the others read only their own.

K is 1-based on the command line (`--shard 2/8`). From the environment (no shell glue in a job
spec): SCANNER_SHARD=K/N; or SCANNER_SHARD_COUNT=N with the 0-based index from SCANNER_SHARD_INDEX,
else JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), else the 1-based CI_NODE_INDEX (GitLab
`parallel:`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

from scanner.model import utf8

MAX_SHARDS = 10_000
HISTORY_RUN = 64  # versions of one file kept together in a history shard (delta chains stay whole)

# what a shard does with one work-tree file (scan.process_item)
FULL = "full"  # this shard's, whatever it holds (unsharded, or the policy shard's own file)
OWN = "own"  # this shard's unless its documents go to whole-scan policy (then the policy shard's)
POLICY = "policy"  # another shard's file: the policy shard's if its documents go to whole-scan policy
SKIP = "skip"  # another shard's file, not read


class ShardError(ValueError):
    """A --shard value or shard environment variable that is not K/N: one line."""


class Shard(NamedTuple):
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def owns_policy(self) -> bool:
        """The shard that runs whole-scan policy rules (relations across files)."""
        return self.index == 1

    def owns_path(self, path: str) -> bool:
        digest = hashlib.blake2b(utf8(path), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index - 1

    def owns_blob(self, sha: str) -> bool:
        """A blob outside the listed history (a HEAD file on another branch): by its id."""
        return int(sha[:15], 16) % self.count == self.index - 1

    def owns_run(self, path: str, run: int) -> bool:
        """History: whether run number `run` (HISTORY_RUN versions) of the blobs that came in at
        `path` is this shard's (the module docstring says how and why)."""
        return run_owner(path, run, self.count) == self.index - 1

    def history_part(self) -> Callable[[str, str], bool]:
        """keep(blob id, path it came in with), called in listing order: whether the blob is this
        shard's, blob by blob (Listing.select_runs asks `owns_run` once per run instead)."""
        seen: dict[str, tuple[int, bool]] = {}  # path -> (versions so far, whether the current run is ours)

        def keep(sha: str, path: str) -> bool:
            n, ours = seen.get(path, (0, False))
            if n % HISTORY_RUN == 0:  # a new run: hashed once for its HISTORY_RUN versions
                ours = self.owns_run(path, n // HISTORY_RUN)
            seen[path] = (n + 1, ours)
            return ours

        return keep

    def role(self, path: str) -> str:
        if self.owns_path(path):
            return FULL if self.owns_policy else OWN
        return POLICY if self.owns_policy else SKIP


def run_owner(path: str, run: int, count: int) -> int:
    """The 0-based shard of `count` that history run number `run` of `path` belongs to (owns_run)."""
    digest = hashlib.blake2b(utf8(f"{path}\0{run}"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def parse(text: str, what: str = "--shard") -> Shard:
    m = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text or "")  # ASCII digits: int() takes others, or refuses
    if not m:
        raise ShardError(f"{what}: expected K/N (e.g. 2/8: the second of eight parts), got {text!r}")
    index, count = _number(m.group(1)), _number(m.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ShardError(f"{what}: the number of shards must be 1 to {MAX_SHARDS}, got {_shown(m.group(2))}")
    if not 1 <= index <= count:
        raise ShardError(f"{what}: the shard number must be 1 to {count} (K is 1-based), got {_shown(m.group(1))}")
    return Shard(index, count)


def _number(digits: str) -> int:
    """The value of ASCII digits; past 9 of them, more than any shard number (int() refuses thousands)."""
    return int(digits) if len(digits.lstrip("0")) <= 9 else MAX_SHARDS + 1


def _shown(digits: str) -> str:
    return digits if len(digits) <= 12 else f"{digits[:12]}... ({len(digits)} digits)"


def from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard the environment names, or None when it names none (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get("SCANNER_SHARD", "").strip():
        return parse(env["SCANNER_SHARD"], "SCANNER_SHARD")
    count = env.get("SCANNER_SHARD_COUNT", "").strip()
    if not count:
        return None
    for name, base in (("SCANNER_SHARD_INDEX", 0), ("JOB_COMPLETION_INDEX", 0), ("CI_NODE_INDEX", 1)):
        value = env.get(name, "").strip()
        if value:
            if not re.fullmatch(r"[0-9]+", value):
                raise ShardError(f"{name}: expected a number, got {value[:40]!r}")
            total = _number(count) if re.fullmatch(r"[0-9]+", count) else 0
            if not 1 <= total <= MAX_SHARDS:
                raise ShardError(f"SCANNER_SHARD_COUNT: the number of shards must be 1 to {MAX_SHARDS}, got {_shown(count[:40])}")
            if len(value.lstrip("0")) > 9 or not base <= int(value) < total + base:
                raise ShardError(f"{name}={_shown(value)}: a shard index of {total} shards is {base} to {total - 1 + base} "
                                 f"({'0' if base == 0 else '1'}-based)")
            return Shard(int(value) + 1 - base, total)
    raise ShardError(
        "SCANNER_SHARD_COUNT is set but no shard index is: set SCANNER_SHARD_INDEX (0-based), or run as a "
        "Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a GitLab parallel job (CI_NODE_INDEX)"
    )
