"""Time the terraform-gcp and terraform-azure packs on generated projects (figures printed, never judged).

    python benchmarks/terraform_clouds.py [--copies 200]

Two shapes, from the fixture projects under fixtures/terraform/{gcp,azure}/{vulnerable,secure}:
- "many modules": each copy in its own folder (a repository of many small stacks);
- "one module": every copy in one folder with renamed resources, so the relations that look for a
  resource referring to another (referenced-by: network rules, CMK, auditing, diagnostic settings) search
  one large module: the worst case for them.
Each is scanned with `python -m scanner scan DIR --only terraform-gcp,terraform-azure -f json` and the
whole-process time, findings and MB/s are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "fixtures" / "terraform" / c / k for c in ("gcp", "azure") for k in ("vulnerable", "secure")]
_LABELS = re.compile(r'^(resource|data)\s+"([\w-]+)"\s+"([\w-]+)"', re.M)


def _renamed(text: str, suffix: str) -> str:
    """Resource names get a suffix, and so do references to them (type.name.)."""
    names = {(m.group(2), m.group(3)) for m in _LABELS.finditer(text)}
    text = _LABELS.sub(lambda m: f'{m.group(1)} "{m.group(2)}" "{m.group(3)}{suffix}"', text)
    for rtype, name in names:
        text = re.sub(rf"\b{re.escape(rtype)}\.{re.escape(name)}\b", f"{rtype}.{name}{suffix}", text)
    return text


def generate(out: Path, copies: int, one_module: bool) -> int:
    size = 0
    for i in range(copies):
        for src in SOURCES:
            dest = out / "stack" if one_module else out / f"{src.parent.name}-{src.name}-{i}"
            dest.mkdir(parents=True, exist_ok=True)
            for tf in src.glob("*.tf"):
                text = tf.read_text()
                if one_module:
                    if tf.name == "main.tf" and i:  # one terraform/provider/variable set per module
                        text = "\n".join(b for b in re.split(r"\n(?=[a-z])", text) if b.startswith(("resource", "data")))
                    text = _renamed(text, f"_{src.parent.name}_{src.name}_{i}")
                name = f"{src.parent.name}-{src.name}-{i}-{tf.name}" if one_module else tf.name
                (dest / name).write_text(text)
                size += len(text.encode())
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=200)
    args = parser.parse_args()
    for one_module in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            size = generate(Path(tmp), args.copies, one_module)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "scanner", "scan", tmp, "--only", "terraform-gcp,terraform-azure",
                 "-f", "json", "--exit-zero", "--config", "/dev/null"],
                capture_output=True, text=True, cwd=ROOT, check=False,
            )
            seconds = time.perf_counter() - start
            report = json.loads(done.stdout)
            shape = "one module" if one_module else "many modules"
            print(
                f"{shape:13} {args.copies} copies: {size / 1e6:.1f} MB, {len(report['findings'])} findings, "
                f"{len(report['problems'])} problems, {seconds:.2f} s, {size / 1e6 / seconds:.2f} MB/s"
            )


if __name__ == "__main__":
    main()
