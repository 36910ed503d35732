"""The vendor packs (policies/secrets-messaging, -payments, -ai, -observability, -data, -saas.yaml):
each rule is documented and tested by its examples, formats that share a prefix go to the right vendor,
public keys are never reported, and every pattern can run in the Hyperscan prefilter."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

from scanner.engines import secrets
from scanner.model import Item
from scanner.rules.examples import run_examples
from scanner.rules.loader import Rule, load_pack

ROOT = Path(__file__).resolve().parent.parent
VENDOR_PACKS = [ROOT / "policies" / f"secrets-{name}.yaml" for name in ("messaging", "payments", "ai", "observability", "data", "saas")]


@lru_cache(maxsize=1)
def vendor_rules() -> tuple[Rule, ...]:
    return tuple(rule for path in VENDOR_PACKS for rule in load_pack(path))


@lru_cache(maxsize=1)
def all_secret_rules() -> tuple[Rule, ...]:
    return tuple(rule for path in sorted((ROOT / "policies").glob("secrets*.yaml")) for rule in load_pack(path))


@lru_cache(maxsize=1)
def compiled() -> secrets.Compiled:
    return secrets.compile_rules(r for r in all_secret_rules() if not r.opt_in)


def found(path: str, text: str) -> list[tuple[str, int]]:
    return [(f.rule_id, f.line) for f in secrets.scan_item(compiled(), Item(path, text.encode()))]


@pytest.mark.parametrize("path", VENDOR_PACKS, ids=lambda p: p.name)
def test_vendor_pack_rules_are_documented_and_tested(path):
    rules = load_pack(path)
    assert rules
    for rule in rules:
        assert rule.pack == "secrets", rule.id  # `--only secrets` runs every secrets rule
        assert rule.description and rule.remediation and rule.references and rule.tags, rule.id
        assert len(rule.bad) >= 2 and len(rule.good) >= 2, rule.id
        assert rule.keywords and all(len(k) >= 3 for k in rule.keywords), rule.id


def test_vendor_pack_examples_pass_among_all_secrets_rules():
    assert run_examples(all_secret_rules()) == []


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        # sk_live_: Paystack is 40 lowercase hex, Stripe is base62
        ("PAYSTACK_SECRET_KEY=sk_live_3f9a0c2be41d7f86a5c09e3b2d1f4a7c8e6b5d0a", "paystack-secret-key"),
        ("STRIPE_SECRET_KEY=sk_live_51FAKEq8Xv2LmN4pR7sT0uW3yZ6bC9dQw8Er", "stripe-secret-key"),
        # sk-: OpenAI's legacy shape, Stability's and DeepSeek's under their names
        ("STABILITY_API_KEY=sk-FAKEq8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5jK8mN2pQ4rS6tU", "stability-api-key"),
        ("DEEPSEEK_API_KEY=sk-9f8e7d6c5b4a39281706fa4e3d2c1b0a", "deepseek-api-key"),
        ("OPENAI_API_KEY=sk-FAKEq8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5jK8mN2pQ4r", "openai-api-key"),
        # EAA: Square's 64-character tokens, Meta's long ones
        ("SQUARE_ACCESS_TOKEN=EAAAlFAKEq8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5jK8mN2pQ4rS6tU8vW0xY2zA4b", "square-access-token"),
        ("FB_PAGE_TOKEN=EAAG" + "q8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5jK8mN2pQ4rFAKE" * 3, "facebook-access-token"),
        # key- is Mailgun's own prefix, not a placeholder
        ("MAILGUN_API_KEY=key-3f9a0c2be41d7f86a5c09e3b2d1f4a7c", "mailgun-api-key"),
        # a UUID under a vendor's key name is that vendor's key
        ("POSTMARK_SERVER_TOKEN=3f9a0c2b-e41d-4f86-a5c0-9e3b2d1f4a7c", "postmark-token"),
        ("HUBSPOT_API_KEY=3f9a0c2b-e41d-4f86-a5c0-9e3b2d1f4a7c", "hubspot-token"),
        # hex under a vendor's key name
        ("DD_API_KEY=3f9a0c2be41d7f86a5c09e3b2d1f4a7c", "datadog-api-key"),
        ("WANDB_API_KEY=3f9a0c2be41d7f86a5c09e3b2d1f4a7c8e6b5d0a", "wandb-api-key"),
    ],
)
def test_a_shared_shape_goes_to_its_vendor(line, rule):
    assert found(".env", line + "\n") == [(rule, 1)]


def test_vendor_names_are_read_in_json_escaped_notebook_cells():
    text = '{"source": ["wandb_api_key = \\"3f9a0c2be41d7f86a5c09e3b2d1f4a7c8e6b5d0a\\"\\n"]}\n'
    assert found("eval.ipynb", text) == [("wandb-api-key", 1)]


PUBLIC = [
    "NEXT_PUBLIC_STRIPE_KEY=pk_live_51FAKEq8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5jK8mN2pQ4rS6tU8vW0xY2zA4bC6dE8f",
    "MAPBOX_TOKEN=pk.eyJ1IjoiYWNtZS1mYWtlIiwiYSI6ImNsZmFrZTAwMDAwMDAwMDAwMDAwMDAwMDAwIn0.q8Xv2LmN4pR7sT0uW3yZ6b",
    "POSTHOG_KEY=phc_FAKEq8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5jK8mN2pQ4rS6t",
    "SUPABASE_PUBLISHABLE_KEY=sb_publishable_q8Xv2LmN4pR7sT0uW3yZ6b_FAKEa1b2",
    "ALGOLIA_SEARCH_ONLY_API_KEY=3f9a0c2be41d7f86a5c09e3b2d1f4a7c",
    "MAILGUN_PUBLIC_KEY=pubkey-3f9a0c2be41d7f86a5c09e3b2d1f4a7c",
    "NEW_RELIC_BROWSER_KEY=NRJS-3f9a0c2be41d7f86a5c",
    "SENTRY_DSN=https://3f9a0c2be41d7f86a5c09e3b2d1f4a7c@o123456.ingest.sentry.io/1234567",
    "LAUNCHDARKLY_MOBILE_KEY=mob-3f9a0c2b-e41d-4f86-a5c0-9e3b2d1f4a7c",
    "RAZORPAY_KEY_ID=rzp_live_FAKEq8Xv2LmN4p",
    "SQUARE_APPLICATION_ID=sq0idp-FAKEq8Xv2LmN4pR7sT0uW3",
    "LANGFUSE_PUBLIC_KEY=pk-lf-3f9a0c2b-e41d-4f86-a5c0-9e3b2d1f4a7c",
    "FLW_PUBLIC_KEY=FLWPUBK-3f9a0c2be41d7f86a5c09e3b2d1f4a7c-X",
    "PAYSTACK_PUBLIC_KEY=pk_live_3f9a0c2be41d7f86a5c09e3b2d1f4a7c8e6b5d0a",
    "STRIPE_WEBHOOK_SECRET=whsec_...",
    "MOLLIE_API_KEY=test_FAKEq8Xv2LmN4pR7sT0uW3yZ6bC9d",
]


@pytest.mark.parametrize("line", PUBLIC)
def test_public_keys_and_placeholders_are_not_reported_by_a_vendor_rule(line):
    # (the generic assignment rules judge names, not vendors: they are tested in test_secrets_engine)
    assert [f for f in found(".env", line + "\n") if not f[0].startswith("generic-")] == []


def test_every_vendor_pattern_runs_in_the_hyperscan_prefilter():
    """A pattern Hyperscan cannot compile is checked by RE2 in every file that has its keywords."""
    hs = pytest.importorskip("hyperscan")
    for rule in vendor_rules():
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=[rule.pattern.encode()], ids=[0], flags=[hs.HS_FLAG_SINGLEMATCH | hs.HS_FLAG_PREFILTER | hs.HS_FLAG_ALLOWEMPTY])


def test_a_keywords_prefilter_needs_keywords(tmp_path):
    from scanner.rules.loader import PackError

    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: p\nrules:\n  - id: r\n    title: t\n    severity: high\n    engine: secrets\n"
        "    description: d\n    remediation: r\n    prefilter: keywords\n    pattern: 'acme_[0-9a-f]{32}'\n"
        "    examples: {bad: ['acme_0123'], good: ['x']}\n"
    )
    with pytest.raises(PackError, match="keywords"):
        load_pack(pack)


def test_most_vendor_rules_are_selected_by_their_keywords_alone():
    """Their patterns stay out of the one-pass prefilter (which slows down with every literal in it);
    the few whose keywords are common words or short shapes (-us, key-, EAA, sl.) keep their pattern there."""
    gated = [r for r in vendor_rules() if r.prefilter == "keywords"]
    assert len(gated) > 0.8 * len(vendor_rules())
    compiled_rules = compiled().rules
    in_pass = {compiled_rules._rules[i].id for i in compiled_rules.pattern_indexes()}
    assert not in_pass & {r.id for r in gated}
    assert {"dropbox-token", "mailchimp-api-key", "generic-secret-assignment"} <= in_pass
