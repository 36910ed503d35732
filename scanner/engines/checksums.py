"""Checksums that credential formats carry, verified offline, so that a random string with the right
prefix is not reported as a token (the `checksum` filter of the secrets packs).

- GitHub (ghp_, gho_, ghu_, ghs_, ghr_) and npm (npm_) tokens: 30 random base62 characters, then the
  CRC32 of those 30 characters written in base62 (0-9A-Za-z) and left-padded with `0` to 6 characters.
  https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
  https://github.blog/2021-09-23-announcing-npms-new-access-token-format/
  Fine-grained `github_pat_` tokens are not verified: GitHub documents no checksum for them.
- age secret keys (AGE-SECRET-KEY-1...) and plugin identities (AGE-PLUGIN-NAME-1...): Bech32 (BIP 173),
  human-readable part `age-secret-key-` / `age-plugin-name-`.
  https://age-encryption.org/v1

A format this module does not know (or a length it does not know for that prefix) is never dropped:
only a token that carries a checksum and gets it wrong is "not a leak".
"""

from __future__ import annotations

import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CRC_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "npm_")
_CRC_BODY = 30  # random characters before the 6 checksum characters


def base62(number: int, width: int = 6) -> str:
    """`number` in base62 (0-9A-Za-z), left-padded with `0` to `width` characters."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return digits.rjust(width, "0")


def crc32_base62(body: str) -> str:
    """The 6-character checksum GitHub and npm append to the random part of a token."""
    return base62(zlib.crc32(body.encode("ascii", "replace")))


def with_checksum(prefix: str, body: str) -> str:
    """A token in GitHub's format: `prefix` + 30 random characters + their checksum (for fixtures)."""
    return prefix + body + crc32_base62(body)


def crc_token_ok(token: str) -> bool | None:
    """True/False for a GitHub or npm token of the checksummed length; None for anything else."""
    prefix = token[:4]
    if prefix not in _CRC_PREFIXES or len(token) != 4 + _CRC_BODY + 6:
        return None
    body, check = token[4 : 4 + _CRC_BODY], token[4 + _CRC_BODY :]
    return crc32_base62(body) == check


# --- Bech32 (BIP 173) ---------------------------------------------------------------------------------
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                check ^= gen
    return check


def bech32_ok(text: str) -> bool:
    """Is `text` (any case, not mixed) a Bech32 string with a valid checksum?"""
    if text.lower() != text and text.upper() != text:
        return False
    text = text.lower()
    at = text.rfind("1")
    if at < 1 or at + 7 > len(text):
        return False
    hrp, data = text[:at], text[at + 1 :]
    if any(c not in _BECH32 for c in data):
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    return _polymod(expanded + [_BECH32.index(c) for c in data]) == 1


def bech32_encode(hrp: str, data: bytes) -> str:
    """Bech32 of `data` (for fixtures: fake age keys with a valid checksum), upper case like age."""
    words, acc, bits = [], 0, 0
    for byte in data:
        acc, bits = acc << 8 | byte, bits + 8
        while bits >= 5:
            bits -= 5
            words.append(acc >> bits & 31)
    if bits:
        words.append(acc << (5 - bits) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod(expanded + words + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return (hrp + "1" + "".join(_BECH32[w] for w in words + checksum)).upper()


# --- the filter -----------------------------------------------------------------------------------------


def checksum_ok(secret: str) -> bool | None:
    """True/False when `secret` is in a format whose checksum this module verifies, None otherwise."""
    verdict = crc_token_ok(secret)
    if verdict is not None:
        return verdict
    if secret.upper().startswith(("AGE-SECRET-KEY-1", "AGE-PLUGIN-")):
        return bech32_ok(secret)
    return None


def is_bad_checksum(candidate, rule) -> bool:  # noqa: ANN001 - Candidate, Rule (filters.py signature)
    """The token carries a checksum and it is wrong: a made-up or mistyped string, not a credential."""
    return checksum_ok(candidate.secret) is False


FILTERS = {"checksum": is_bad_checksum}
