"""Terraform policy throughput: parse + policy engine over generated copies of the fixture modules.

    python benchmarks/terraform.py [COPIES]

Each copy of fixtures/terraform (every .tf, .tf.json, .tfvars and the plan JSON) becomes its own
module folder, so relations stay per module as in a real repository. Prints files, MB, parse and
policy seconds, files/s and MB/s, and how many files needed the python-hcl2 fallback parser.
Measured, never asserted (no timing tests).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner import documents  # noqa: E402
from scanner.documents import terraform_fast, terraform_hcl  # noqa: E402
from scanner.engines import policy  # noqa: E402
from scanner.model import Item  # noqa: E402
from scanner.rules.loader import load_pack, select_rules  # noqa: E402


def main(copies: int = 200) -> None:
    rules = select_rules(load_pack(ROOT / "policies" / "terraform-aws.yaml"))
    base = ROOT / "fixtures" / "terraform"
    sources = [
        (str(p.relative_to(base)), p.read_bytes())
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.name != "expected.yaml" and "broken" not in p.parts
    ]
    items = [Item(f"m{i}/{path}", data) for i in range(copies) for path, data in sources]
    size = sum(len(i.data) for i in items)
    fallbacks = 0
    for _, data in sources:
        if _.endswith(".tf"):
            try:
                terraform_fast.parse_fast(data.decode(), terraform_hcl.Block)
            except terraform_fast.Fallback:
                fallbacks += 1
    t0 = time.perf_counter()
    docs = []
    for item in items:
        parsed, _problems = documents.parse_item(item)
        docs.extend(parsed)
    t1 = time.perf_counter()
    findings = policy.run(rules, documents.finalize(docs), {})
    t2 = time.perf_counter()
    print(
        f"{len(items)} files, {size / 1e6:.1f} MB: parse {t1 - t0:.2f} s, policy {t2 - t1:.2f} s, "
        f"{len(items) / (t2 - t0):.0f} files/s, {size / 1e6 / (t2 - t0):.2f} MB/s, {len(findings)} findings; "
        f"{fallbacks} of {sum(1 for p, _ in sources if p.endswith('.tf'))} fixture .tf files need the python-hcl2 fallback"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
