"""Dockerfile and Compose policy throughput: parse + policy engine over generated copies of the fixtures.

    python benchmarks/dockerfiles.py [DOCKERFILES] [COMPOSE_FILES]

Prints files, MB, parse and policy seconds and files/s. Measured, never asserted (no timing tests).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner import documents  # noqa: E402
from scanner.engines import policy  # noqa: E402
from scanner.model import Item  # noqa: E402
from scanner.rules.loader import load_pack  # noqa: E402


def main(n_docker: int = 4000, n_compose: int = 1000) -> None:
    rules = [r for p in ("dockerfile.yaml", "compose.yaml") for r in load_pack(ROOT / "policies" / p)]
    fx = ROOT / "fixtures"
    dockerfiles = [
        p.read_bytes() for p in sorted((fx / "dockerfile").rglob("*")) if p.is_file() and p.suffix != ".yaml"
    ]
    composes = [p.read_bytes() for p in sorted((fx / "compose").rglob("*.y*ml")) if p.name != "expected.yaml"]
    items = [Item(f"svc{i}/Dockerfile", dockerfiles[i % len(dockerfiles)]) for i in range(n_docker)]
    items += [Item(f"svc{i}/docker-compose.yml", composes[i % len(composes)]) for i in range(n_compose)]
    size = sum(len(i.data) for i in items)
    t0 = time.perf_counter()
    docs = []
    for item in items:
        docs.extend(documents.parse_item(item)[0])
    t1 = time.perf_counter()
    findings = policy.run(rules, documents.finalize(docs), {})
    t2 = time.perf_counter()
    print(
        f"{len(items)} files, {size / 1e6:.1f} MB: parse {t1 - t0:.2f}s, policy {t2 - t1:.2f}s, "
        f"{len(findings)} findings, {len(items) / (t2 - t0):.0f} files/s"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
