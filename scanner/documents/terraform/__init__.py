"""Terraform: the document module (parse, model, targets and relations live in model.py for now)."""

from scanner.documents.terraform.model import RELATIONS, TARGETS, claims, parse

__all__ = ["RELATIONS", "TARGETS", "claims", "parse"]
