"""Terraform: HCL2 (`.tf`), JSON syntax (`.tf.json`), variable files (`.tfvars`) and plan JSON
(`terraform show -json plan.out`), one module per step:

- parse/      bytes -> blocks: parse/fast.py (the fast scanner for the common shape), parse/hcl.py
              (python-hcl2 fallback, error messages, the `.tf.json` syntax), parse/plan.py (plan JSON)
- evaluate/   where a value is resolved: module calls and their arguments (modules.py), variables,
              tfvars, locals, count/for_each (scope.py), expressions (expressions.py, functions.py)
- model.py    the resources of the whole scan, the generic targets and the relations between resources
- iam.py      AWS IAM policy documents in one statement shape
- aws.py      AWS-only targets (IAM statements wherever they are carried, security group ingress)
- embedded.py text inside values (base64 user_data, container environment pairs) for the secrets engine

This package is the document module the registry (scanner/documents/__init__.py) loads: `claims`,
`parse`, `TARGETS`, `RELATIONS`.
"""

from __future__ import annotations

from scanner.documents.terraform import aws, model
from scanner.documents.terraform.parse import claims, parse

TARGETS = {**model.TARGETS, **aws.TARGETS}
RELATIONS = model.RELATIONS

__all__ = ["RELATIONS", "TARGETS", "claims", "parse"]
