"""The synthetic working tree of run.py's worktree workload (`run.py --generate N`, and `--small`):
source, manifests, Terraform, Dockerfiles and docs, with a few real-format fake secrets."""

from __future__ import annotations

import random
import string
from pathlib import Path

TEMPLATES = [
    'import os\n\nDEBUG = {b}\nDATABASE_URL = os.environ["DATABASE_URL"]\nTIMEOUT = {n}\n\n'
    "def handler(event, context):\n    return {{'status': {n}, 'body': '{w}'}}\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {w}\nspec:\n  replicas: {n}\n  template:\n"
    "    spec:\n      containers:\n        - name: {w}\n          image: nginx:1.{n}\n",
    'resource "aws_s3_bucket" "{w}" {{\n  bucket = "{w}-logs"\n  tags = {{ Name = "{w}" }}\n}}\n',
    "FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install -r requirements.txt\nUSER 1000\n",
    "# {w}\n\nSome documentation about {w}. Set the password in the vault, never here.\n" * 3,
]


def generate(root: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = ["mod{i:05d}.py", "mod{i:05d}.yaml", "mod{i:05d}.tf", "svc{i:05d}.Dockerfile", "mod{i:05d}.md"]
    for i in range(files):
        kind = i % len(TEMPLATES)
        word = "".join(rng.choices(string.ascii_lowercase, k=8))
        text = TEMPLATES[kind].format(w=word, n=rng.randint(1, 99), b=rng.choice(["True", "False"])) * rng.randint(1, 40)
        if i % 997 == 0:  # a few real-format fake secrets
            from scanner.engines.checksums import with_checksum  # a token GitHub's CRC32 check accepts

            token = with_checksum("ghp_", "".join(rng.choices(string.ascii_letters + string.digits, k=30)))
            text += f'\nGITHUB_TOKEN = "{token}"\n'
        sub = root / f"pkg{i % 200:03d}"
        sub.mkdir(exist_ok=True)
        (sub / names[kind].format(i=i)).write_text(text)
