"""The vendor packs (policies/secrets-cloud.yaml, secrets-devtools.yaml, secrets-keys.yaml) and the
checksums that tell a real token from a random string with the right prefix (engines/checksums.py)."""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import pytest

from scanner.engines import checksums, secrets
from scanner.model import Item
from scanner.rules.loader import load_pack, load_rules, select_rules

ROOT = Path(__file__).resolve().parent.parent
VENDOR_PACKS = ("secrets-cloud.yaml", "secrets-devtools.yaml", "secrets-keys.yaml")


@lru_cache(maxsize=1)
def compiled() -> secrets.Compiled:
    return secrets.compile_rules(r for r in load_rules() if r.engine == "secrets" and not r.opt_in)


def rules_on(text: str, path: str = "config.env") -> list[tuple[str, int]]:
    return [(f.rule_id, f.line) for f in secrets.scan_item(compiled(), Item(path, text.encode()))]


# ---------------------------------------------------------------------------------------- checksums


def test_base62_checksum_is_crc32_of_the_random_part():
    body = "q8Xv2LmN4pR7sT0uW3yZ6bC9dF1gH5"
    token = checksums.with_checksum("ghp_", body)
    assert len(token) == 40 and token.startswith("ghp_" + body)
    number = 0
    for char in token[-6:]:
        number = number * 62 + checksums.BASE62.index(char)
    assert number == zlib.crc32(body.encode())
    assert checksums.crc_token_ok(token) is True
    assert checksums.crc_token_ok(token[:-1] + ("A" if token[-1] != "A" else "B")) is False
    assert checksums.crc_token_ok("ghp_" + body + "0000000000") is None  # not the checksummed length
    assert checksums.crc_token_ok("xyz_" + body + token[-6:]) is None


def test_bech32_known_vectors_and_age_keys():
    assert checksums.bech32_ok("A12UEL5L")  # BIP 173 test vectors
    assert checksums.bech32_ok("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
    assert not checksums.bech32_ok("A12UEL5M")
    assert not checksums.bech32_ok("A12uEL5L")  # mixed case
    key = checksums.bech32_encode("age-secret-key-", bytes(range(32)))
    assert key.startswith("AGE-SECRET-KEY-1") and len(key) == 74
    assert checksums.checksum_ok(key) is True
    assert checksums.checksum_ok(key[:-1] + ("Q" if key[-1] != "Q" else "P")) is False


@pytest.mark.parametrize("prefix, rule", [("ghp_", "github-token"), ("gho_", "github-token"), ("npm_", "npm-token")])
def test_a_token_with_a_wrong_checksum_is_not_reported_by_any_rule(prefix, rule):
    good = checksums.with_checksum(prefix, "Zt4nP9qL2wX7vB0cR5mK8jH3gF6dS1")
    bad = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    assert rules_on(f"TOKEN={good}\n") == [(rule, 1)]
    # neither the vendor rule nor the generic assignment rules: the value is made up
    assert rules_on(f"TOKEN={bad}\nGITHUB_TOKEN = '{bad}'\n") == []


def test_age_key_with_a_broken_checksum_is_not_reported():
    key = checksums.bech32_encode("age-secret-key-", bytes(range(1, 33)))
    assert rules_on(f"SOPS_AGE_KEY={key}\n") == [("age-secret-key", 1)]
    broken = key[:20] + ("Q" if key[20] != "Q" else "P") + key[21:]
    assert rules_on(f"SOPS_AGE_KEY={broken}\n") == []


# ---------------------------------------------------------------------------------------- the packs


def test_vendor_packs_are_part_of_the_secrets_pack():
    for name in VENDOR_PACKS:
        rules = load_pack(ROOT / "policies" / name)
        assert rules and {r.pack for r in rules} == {"secrets"}, name
        for rule in rules:
            assert rule.keywords and rule.references and len(rule.bad) >= 2 and len(rule.good) >= 2, rule.id
    chosen = {r.id for r in select_rules(load_rules(), only=["secrets"])}
    assert {"heroku-api-key", "sonar-token", "age-secret-key", "github-token"} <= chosen


def test_a_format_without_structure_needs_the_vendor_name_and_a_secret_word():
    uuid = "5f0e1d2c-3b4a-4968-8776-a5b4c3d2e1f0"
    assert rules_on(f"HEROKU_API_KEY={uuid}\n") == [("heroku-api-key", 1)]
    assert rules_on(f"HEROKU_API_KEY_PROD: '{uuid}'\n") == [("heroku-api-key", 1)]
    assert rules_on(f"HEROKU_APP_ID={uuid}\nBUILD_ID={uuid}\n") == []
    hexkey = "9c1f0e2d3b4a59687766a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4"
    assert rules_on(f"LINODE_TOKEN={hexkey}\n") == [("linode-token", 1)]
    assert rules_on(f"LINODE_TOKEN_URL={hexkey}\n") == []


def test_prefixed_formats_are_found_under_any_name():
    token = "dop_v1_" + "4f9c2a7b1e8d3f6a0c5b9e2d7a4f1c8b" * 2
    assert rules_on(f'client.auth("{token}")\n', "deploy.py") == [("digitalocean-token", 1)]
    assert ("digitalocean-token", 1) not in rules_on("DIGITALOCEAN_ACCESS_TOKEN=dop_v1_\n")


def test_aws_session_tokens_of_any_length_are_one_finding():
    token = "IQoJb3JpZ2luX2VjE" + "Ab3dE5gH7jK9mN1pQ3rS5tU7vW9xY1zA" * 14
    text = f"[default]\naws_session_token = {token}\n"
    found = secrets.scan_item(compiled(), Item(".aws/credentials", text.encode()))
    assert [(f.rule_id, f.line) for f in found] == [("aws-session-token", 2)]
    assert found[0].location.end_column - found[0].location.column == len(token)


def test_public_keys_are_not_private_keys():
    jwks = '{"keys": [{"kty": "RSA", "kid": "k1", "n": "' + "x1Yz" * 64 + '", "e": "AQAB"}]}\n'
    assert rules_on(jwks, "jwks.json") == []
    assert rules_on("[Peer]\nPublicKey = Zt4nP9qL2wX7vB0cR5mK8jH3gF6dS1aQy0EuV2b7c9E=\n", "wg0.conf") == []
