"""Small named filters, detect-secrets style: each answers "is this candidate NOT a leak?".

Every rule gets the DEFAULT filters; a rule adds more by naming them in `filters:` (the generic
assignment rules name most of the `value-*` and `key-*` ones). Filters run only on pattern hits, in
order, cheapest first, and stop at the first that says "not a leak".

detect-secrets' heuristics (sequential, UUID, templated) are reimplemented here with the same
behaviour (tests/test_speed_mechanics.py checks they agree on thousands of values) rather than called:
importing `detect_secrets.filters.heuristic` costs 0.11-0.21 s per process (it imports the whole
package, its plugins and requests), paid lazily by every process whose candidates reach these last
filters, i.e. every run with a finding. Measured on a one-file pre-commit run with one finding (best of
6, 2 shared cores): 0.26 s wall / 0.13 s CPU with the reimplementation, 0.60 s wall / 0.22 s CPU
calling the library; each scan worker would pay the import again. detect-secrets is a runtime
dependency for `baseline import`, which does read its baselines through the library.

Judgements (documented in the rules' descriptions and tested):
- `changeme`, `changeit`, `REPLACE_ME`, `<token>`, `xxxx`, `****`, `your-api-key-here` and friends are
  placeholders, never findings.
- Documented service defaults used as *values of generic assignments* (`password`, `secret`, `admin`,
  `root`, `guest`, `postgres`, `mysql`, `test`, `default`, `notasecret`...) are not findings: they are
  not secrets anyone can leak (they are public), and reporting them buries real leaks.
- A value that is just a name made of lowercase (or UPPER_SNAKE) words containing a secret word
  (`db-password`, `mysecretpassword`, `GITHUB_TOKEN`) is a name or a reference, not a secret.
"""

from __future__ import annotations

import re
import string
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

from scanner.engines import checksums
from scanner.rules.loader import Rule


class _Lazy:
    """A regex compiled when first used: a scan that meets no candidate, as most pre-commit runs do,
    compiles none of this module's (~11 ms a process start). Each attribute the code asks for
    (`search`, `sub`...) is looked up once, then kept on the instance."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern | None = None

    def compiled(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return self._compiled

    def __getattr__(self, name: str) -> Any:  # only for what is not yet on the instance
        value = self.__dict__[name] = getattr(self.compiled(), name)
        return value


def compile_all() -> None:
    """Compile every regex of this module now: before workers fork, which then inherit them instead
    of each compiling them again."""
    for value in list(globals().values()):
        if isinstance(value, _Lazy):
            value.compiled()


# --- default filters: every rule --------------------------------------------------------------------

# the whole value is a template / variable reference
_TEMPLATE = _Lazy(
    r"^\s*(?:\$\{[^}]*\}|\$\([^)]*\)|\{\{.*\}\}|\$\{\{.*\}\}|%\([^)]*\)[sdr]|<[^<>]+>|\$[A-Za-z_][A-Za-z0-9_]*|"
    r"#\{[^}]*\}|@[A-Za-z_]+@|@[A-Z][A-Z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%|__[A-Za-z0-9_]+__|\{[A-Za-z0-9_.]*\}|\[\[.*\]\])\s*$"
)
_PLACEHOLDER = _Lazy(
    r"(?i)^(?:x{3,}|\*{3,}|(?:\.{3,}|\u2026)(?:\W.*)?|-{3,}|_{3,}|#{3,}|0{3,}|\?{3,}|•{3,}|"
    r"change[-_ ]?(?:me|it|this)\w*|replace[-_ ]?(?:me|it|this)\w*|"
    r"(?:your|insert|enter|put|paste)(?:[-_ .]\w*|(?:api)?(?:key|token|secret|password|pass|pwd)\w*)|"
    r"[\w.-]*[-_ .]here|<[^>]*>|\[[^\]]*\]|"
    r"todo|tbd|fixme|none|null|nil|undefined|true|false|yes|no|on|off|empty|"
    r"example|sample|dummy|fake|placeholder|redacted|masked|hidden|removed|omitted|filtered|scrubbed|secret|password|passwd|"
    r"token|notasecret|not-a-secret|notsecret)$"
)
# a value made (almost) only of one repeated character: ghp_xxxxxxxx..., AKIA0000000000000000
_MIN_DOMINANT = 0.6


def is_template(candidate, rule: Rule) -> bool:  # noqa: ANN001 - Candidate lives in secrets.py
    """`${VAR}`, `$(VAR)`, `{{ .Values.x }}`, `${{ secrets.X }}`, `%(pw)s`, `<token>`, `$VAR`, `%VAR%`."""
    return bool(_TEMPLATE.search(candidate.secret))


def is_placeholder(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`changeme`, `REPLACE_ME`, `xxxx`, `****`, `your-token-here`, `<token>`, `TODO`..., and a value
    that is an ellipsis before punctuation (`password=...,` or `Password=...).` in prose and rule
    descriptions, the scanner's own among them)."""
    secret = candidate.secret.strip("'\" ")
    if "&" in secret:  # XML and HTML write `<password>` as `&lt;password&gt;`
        import html  # here: its entity table is ~4 ms of every scanning process's start

        secret = html.unescape(secret)
    return bool(_PLACEHOLDER.search(secret) or _PLACEHOLDER.search(secret.strip("[]-_*#")))


def is_repeated(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """One character makes up most of the value: `ghp_xxxxxxxxxxxx...`, `sk_live_000000...`."""
    secret = candidate.secret
    if len(secret) < 8:
        return len(secret) >= 3 and len(set(secret)) == 1  # `aaaa`, `bbbb`
    _, top = Counter(secret).most_common(1)[0]
    return top / len(secret) > _MIN_DOMINANT


_DATA_URI = _Lazy(r"data:[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+(?:;[A-Za-z0-9=.+-]+)*;base64,[A-Za-z0-9+/=]+")


# Values published in vendors' documentation as examples: never live, everywhere in docs and tests.
DOCUMENTED_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPLE",
        "AKIAI44QH8DHBEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "pk_test_TYooMQauvdEDq54NiTphI7jx",
        # redis.conf's documented example password ("requirepass foobared")
        "foobared",
        # more of AWS's documented secrets (IAM and STS examples)
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        "8P+SQvWIuLnKhh8d++jpw0nNmQRBZvNEXAMPLEKEY",
        "9drTJvcXLB89EXAMPLELB8923FB892xMFI",
        # OAuth 1.0 (RFC 5849) and OAuth 2.0 (RFC 6749 / 6750) examples, copied into every OAuth library
        "2YotnFZFEjr1zCsicMWpAA",
        "tGzv3JOkF0XG5Qx2TlKWIA",
        "mF_9.B5f-4.1JqM",
        "dpf43f3p2l4k3l03",
        "kd94hf93k423kf44",
        "hh5s93j4hdidpola",
        "hdhd0244k9j7ao03",
        "nnch734d00sl2jdk",
        "pfkkdhi9sl3r4s00",
        "9djdj82h48djs9d2",
        "kkk9d7dh3k39sjv7",
        "j49sk3j29djd",
        "dh893hdasih9",
        "h480djs93hd8",
        "jd93dh9dh39D",
        "s6BhdRkqt3",
        "gX1fBat3bV",
        "czZCaGRSa3F0MzpnWDFmQmF0M2JW",  # RFC 6749's client credentials, as a Basic authorization
        "7Fjfp0ZBr1KtDRbnfVdmIw",
        "SplxlOBeZQQYbYS6WxSbIA",
        # RFC 6455's sample WebSocket key, Flask's and FastAPI's tutorial keys
        "dGhlIHNhbXBsZSBub25jZQ==",
        "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf",
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        "_5#y2L\"F4Q8z\\n\\xec]/",
        "5f352379324c22463451387a0aec5d2f",
    }
)


def is_documented_example(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """AWS's AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, the Azurite key, Stripe's docs key,
    jwt.io's sample token; also when a pattern cut the example short (`b'_5#y2L"F4Q8z...'`)."""
    secret = candidate.secret.strip("'\" ")
    if secret in DOCUMENTED_EXAMPLES or _JWT_IO.search(secret):
        return True
    return len(secret) >= 6 and any(secret in ex and ex in candidate.context for ex in DOCUMENTED_EXAMPLES)


# jwt.io's sample payloads: {"sub":"1234567890","name":"John Doe",...} / {"sub":"1234567890","iat":...}
_JWT_IO = _Lazy(r"\.eyJzdWIiOiIxMjM0NTY3ODkwIiwi")


def is_in_data_uri(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Base64 images and fonts (`data:image/png;base64,...`) are not secrets."""
    context = candidate.context
    if ";base64," not in context:
        return False
    return any(candidate.secret in m.group(0) for m in _DATA_URI.finditer(context))


# --- key filters: the name a value is assigned to ---------------------------------------------------

_SPLIT = _Lazy(r"[A-Z]+[a-z0-9]*|[a-z0-9]+")
SECRET_WORDS = frozenset(
    "password passwd pwd pass passphrase passcode pswd passwort pw secret secrets token tokens apikey "
    "apikeys accesskey secretkey privatekey authkey credential credentials requirepass masterauth".split()
)
_KEY_PARTNERS = frozenset(
    "api access private secret auth client signing encryption master account app service license "
    "shared session webhook consumer validation decryption hmac".split()
)
NON_SECRET_AFTER = frozenset(
    "name names ref refs reference file files path paths dir url uri urls endpoint type types policy length "
    "len min max minimum maximum id ids arn env var variable header field param parameter prefix suffix "
    "count expiry expires expiration ttl timeout lifetime age required enabled enable disabled mode provider "
    "source store manager format regex pattern rotation version location label description help hint prompt "
    "placeholder message msg text title validation valid reset changed updated at date time created expired "
    "strength complexity chars characters digits key_ref selector mount volume template annotation annotations "
    "class kind usage scope scopes audience issuer algorithm alg method methods auth_method index policy_arn "
    "field_name input hash salt rounds iterations encrypted mask masked visible visibility toggle generator "
    "length_min length_max cache limit size rule rules secret_name store_name sha sha1 sha256 digest checksum "
    "commit revision rev fingerprint sum hint".split()
)
NON_SECRET_BEFORE = frozenset(
    "max min num number total count use is has show hide forgot reset require requires requiring enable "
    "disable allow check validate generate rotate next prev previous page continuation cursor sync no skip "
    "csrf xsrf should can must needs existing external sealed input output pagination paginator marker "
    "request idempotency creation change verification lock cancel query form split word sub special "
    "bos eos pad unk sep cls mask start end stop begin eol eof public update fake dummy mock example sample "
    "create delete get list describe hashed hash encrypted salted verify parse decode compare assert expect "
    "mock prompt ask lookup fetch load find resolve retrieve".split()
)


def key_tokens(key: str) -> list[str]:
    return [t.lower() for t in _SPLIT.findall(key)]


# After the (last) secret word only these words may follow: `DB_PASSWORD_PROD`, `client_secret_value`,
# `api_token_2`. Anything else names something about the secret (`password_file`, `token_url`,
# `token.markup`, `_core_token_compound`, `EncryptionKeyCheckValue`), not the secret itself.
SECRET_SUFFIXES = frozenset(
    "value val str string data raw plain plaintext literal b64 base64 encoded hex bytes key pw "
    "prod production dev development staging stage test testing qa uat local live sandbox default main "
    "primary secondary backup old new current admin root user app svc service v1 v2 v3 base phrase word code "
    "pin pem der jwk json for ci cd bot api auth access read write rw ro readonly full override".split()
)
# fused names: `dbpassword`, `adminpasswd`, `mysecret`, `slacktoken` (not `nexttoken`: see BEFORE)
_FUSED_ENDINGS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "secretkey", "privatekey")


def _is_secret_token(tokens: list[str], i: int) -> bool:
    tok = tokens[i]
    if tok in SECRET_WORDS or (tok == "key" and i > 0 and tokens[i - 1] in _KEY_PARTNERS):
        return True
    for end in _FUSED_ENDINGS:
        if tok.endswith(end) and len(tok) > len(end):
            head = tok[: -len(end)]
            return head.isalpha() and head not in NON_SECRET_BEFORE and head not in ("by", "sur", "com")
    return False


def _secret_positions(tokens: list[str]) -> list[int]:
    return [i for i in range(len(tokens)) if _is_secret_token(tokens, i)]


def is_secret_key(key: str) -> bool:
    """Does this name (DB_PASSWORD, clientSecret, api-key, max_tokens, secretName) hold a secret?"""
    tokens = key_tokens(key)
    positions = _secret_positions(tokens)
    if not positions:
        return False
    last = positions[-1]
    if any(not (t in SECRET_SUFFIXES or t.isdigit()) for t in tokens[last + 1 :]):
        return False
    first = positions[0]
    return not any(t in NON_SECRET_BEFORE for t in tokens[:first])


def is_not_secret_key(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """The key is not a secret name: `secretName`, `password_file`, `max_tokens`, `token_url`..."""
    return bool(candidate.key) and not is_secret_key(candidate.key)


_VAULT_ANNOTATION = _Lazy(r"vault\.hashicorp\.com/|vault\.security\.banzaicloud\.io/")


def is_vault_annotation(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Vault Agent / Bank-Vaults annotations name secret paths and templates, not secrets."""
    return bool(_VAULT_ANNOTATION.search(candidate.context))


# --- value filters: the generic assignment rules ----------------------------------------------------

_CONTAINS_TEMPLATE = _Lazy(r"\$\{|\{\{|\$\(|%\(|#\{|<%|\{%|\$[A-Z_][A-Z0-9_]{2,}")
_REFERENCE = _Lazy(
    r"^(?:"
    # code: dotted names, calls, indexing: settings.DB_PASSWORD, get_password(), os.environ['X'], var.x
    r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$-]*)+(?::[A-Za-z_]\w*)?|[A-Za-z_]\w*:[A-Za-z_]\w*(?:\.\w+)*|[A-Za-z_$][\w$.:]*\(.*|[A-Za-z_$][\w$.]*\[.*|"
    # secret managers and reference schemes
    r"(?i:(?:vault|ref\+\w+|op|sm|aws-sm|gcp-sm|azkv|keyvault|secretsmanager|ssm|env|file|k8s|kms|sops|"
    r"awskms|gcpkms|doppler|infisical|bws|secret)):.*|arn:aws[\w-]*:.*|projects/[^/]+/secrets/.*|"
    r"@Microsoft\.KeyVault\(.*|!\w+.*|"
    # SOPS / Ansible Vault ciphertext
    r"ENC\[[A-Z0-9_]+,.*|\$ANSIBLE_VAULT;.*|"
    # OpenSSL `enc` output (base64 of "Salted__..."), Azure ARM template expressions
    r"U2FsdGVkX1[A-Za-z0-9+/=]*|\[(?:parameters|variables|reference|concat|format|listKeys)\(.*"
    r")$"
)
_PATH_OR_URL = _Lazy(
    r"^(?:/|\./|\.\./|~/|[A-Za-z]:\\)\S*$|^[A-Za-z][A-Za-z0-9+.-]*://\S*$|"
    r"(?i:^\S+\.(?:pem|key|p12|pfx|jks|keystore|crt|cer|der|json|txt|yaml|yml|env|gpg|asc|enc|age)$)"
)
_VERSION = _Lazy(r"^[~^<>=v]*\d+(?:\.\d+)+\S*$")
_NAME_LIKE = _Lazy(r"^(?:[a-z0-9]+(?:[-_./][a-z0-9]+)*|[A-Z0-9]+(?:_[A-Z0-9]+)*)$")
_NAME_WORDS = _Lazy(r"(?i)pass|secret|token|key|cred|auth|pwd")
_PUBLIC = _Lazy(
    r"^(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-|sk-ssh-|sk-ecdsa-)|-----BEGIN (?:CERTIFICATE|PUBLIC KEY|"
    r"RSA PUBLIC KEY|PGP PUBLIC KEY BLOCK|SSH2 PUBLIC KEY|X509 CRL|CERTIFICATE REQUEST|NEW CERTIFICATE)"
)
DEFAULT_VALUES = frozenset(
    "admin administrator root guest user test testing tester default postgres mysql mariadb oracle sa "
    "rabbitmq redis mongo mongodb elastic kibana minio minioadmin jenkins tomcat manager demo demo123 "
    "string str text int integer bool boolean object required optional auto automatic generated random "
    "disabled enabled hidden bearer basic none unset unknown value values foo bar baz foobar pass pw pwd "
    "tiger scott airflow celery superset grafana keycloak vagrant ubuntu pi raspberry".split()
)


def is_template_anywhere(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`prefix-${X}`, `{{ vault_pw }}`, `<%= ENV['X'] %>`: the value is filled in elsewhere."""
    return bool(_CONTAINS_TEMPLATE.search(candidate.secret))


def is_reference(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Code references and secret-manager references: `settings.DB_PASSWORD`, `get_password()`,
    `os.environ['X']`, `process.env.X`, `var.db_password`, `vault:secret/db#pw`, `op://vault/item`,
    `arn:aws:secretsmanager:...`, `!Ref DbPassword`, `ENC[AES256_GCM,...]`, `$ANSIBLE_VAULT;...`."""
    secret = candidate.secret.strip()
    if _WORDY_PASSWORD.fullmatch(secret) and _password_key(candidate.key):
        return False  # `Summer.Breeze2024` under a password key: a passphrase, not `settings.DB_PASSWORD`
    return bool(_REFERENCE.search(secret))


# words joined by dots with a number at the end, `Summer.Breeze2024`, `Blue.Horse.Battery9`: how people
# build memorable passwords; code names (`settings.DB_PASSWORD`, `props.password2`) start lower-case or
# are upper-case constants
_WORDY_PASSWORD = _Lazy(r"[A-Z][a-z]+(?:\.[A-Za-z][a-z]*)+\d+[!#$%&*?]*|[A-Z][a-z]+\d+(?:\.[A-Za-z][a-z]*)+")
_PASSWORD_WORDS = frozenset("password passwd pwd pass passphrase passcode pswd passwort pw".split())


def _password_key(key: str) -> bool:
    return any(t in _PASSWORD_WORDS or t.endswith(("password", "passwd")) for t in key_tokens(key))


def is_path_or_url(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`/run/secrets/db`, `./certs/tls.key`, `https://vault.example/` (credentials in URLs have their own
    rule)."""
    return bool(_PATH_OR_URL.search(candidate.secret))


def is_not_a_word_secret(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Prose, numbers, versions: `Mot de passe`, `3600`, `^4.0.0`, values without a single letter."""
    secret = candidate.secret
    if any(c.isspace() for c in secret):
        return True
    if not any(c.isalpha() for c in secret):
        return True
    return bool(_VERSION.search(secret))


def is_default_value(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Documented defaults and type names: `admin`, `postgres`, `guest`, `string`, `changeit`..."""
    return candidate.secret.strip().lower() in DEFAULT_VALUES


def is_name_like(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`db-password`, `mysecretpassword`, `GITHUB_TOKEN`: a name or reference, not the secret itself."""
    secret = candidate.secret.replace("\\", "")  # reStructuredText escapes: `x\_auth\_token`
    if not (_NAME_LIKE.search(secret) and _NAME_WORDS.search(secret)):
        return False
    if any(_random_part(part) for part in _NAME_PARTS.split(secret)):
        return False  # `key-` and 32 hex digits (Mailgun), `token_9f8e7d6c5b4a39281716`
    # `s3cr3tpassw0rd` is a (weak) password; `db-password`, `mysecretpassword` and
    # `generatedwebdavpassword1` (long words, then a counter) are names
    if any(c in "-_./" for c in secret) or not any(c.isdigit() for c in secret):
        return True
    head = secret.rstrip("0123456789")
    return len(head) >= 12 and head.isalpha()


_NAME_PARTS = _Lazy(r"[-_./]")


def _random_part(part: str) -> bool:
    """A part of a name that no one typed as a word: 16+ characters mixing letters and digits."""
    head = part.rstrip("0123456789")  # `generatedwebdavpassword1`: words, then a counter
    return len(part) >= 16 and sum(c.isdigit() for c in head) >= 3 and any(c.isalpha() for c in head)


def is_public_material(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Public keys and certificates are meant to be shared."""
    return bool(_PUBLIC.search(candidate.secret.lstrip()))


_IDENT_WORDS = _Lazy(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_IDENT_SHAPE = _Lazy(r"[A-Za-z]+(?:(?:[-_.]|, ?)[A-Za-z]+)*")
_VOWELS = frozenset("aeiouyAEIOUY")


def is_identifier(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Words, not a secret: `NextToken`, `Marker`, `next_marker`, `skip-stdin`, `Incorrect`, `today?`,
    `SYMMETRIC_DEFAULT`. Letters only (no digit; trailing `.?!` ignored) made of words: pieces split by
    `-_.` or CamelCase humps of two letters or more, each with a vowel; one all-lower or all-upper word
    only up to 16 letters. Random letter strings (`qZtRkLmWbN`) have one-letter or vowel-less humps."""
    secret = candidate.secret.strip().rstrip(".?!")
    if len(secret) > 48 or not _IDENT_SHAPE.fullmatch(secret):
        return False
    words = _IDENT_WORDS.findall(secret)
    if not words:
        return False
    long_words = sum(len(w) >= 3 and any(c in _VOWELS for c in w) for w in words)
    separated = secret.islower() and any(c in "-_." for c in secret)
    for i, word in enumerate(words):
        if long_words >= 2 and word.isupper() and 2 <= len(word) <= 4:
            continue  # an acronym among words: `PasswordForDefaultDC`
        if i == 0 and len(word) == 1 and word.islower() and len(words) > 1:
            continue  # `vCenterCredentials`, `eTag`
        if separated and long_words >= 1 and len(word) >= 2:
            continue  # `sslvpn-login`: lowercase names keep their abbreviations
        if not any(c in _VOWELS for c in word) or (len(word) < 2 and word not in "aAI"):
            return False
    if len(words) == 1:
        return len(secret) <= 16
    return sum(len(w) for w in words) / len(words) >= 2.5


# "example" as a marker, the way vendors write it (gitleaks allows `EXAMPLE$` for AWS): at either end,
# before a digit or symbol, as a CamelCase word, or after a symbol or a `\n` escape. A fake key that
# merely hides the word inside random letters (`89EXAMPLEKEYwJal...`) is still a shaped secret.
_EXAMPLE = _Lazy(
    r"^(?i:example)|(?i:example)(?:key)?$|(?i:example)(?=[^A-Za-z])|[Ee]xample(?=[A-Z])|EXAMPLE(?=[a-z])|"
    r"(?<=[^A-Za-z0-9])(?i:example)|(?<=\\n)(?i:example)"
)


def contains_example(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """EXAMPLE anywhere in an identifier made of random capitals (AWS key IDs: `AKIAEXAMPLEPBUMBC3GA`)."""
    return "EXAMPLE" in candidate.secret


def is_example(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Documentation values: `AKIAEXAMPLE123456789`, `eyJra456defEXAMPLE`, `asdf34example`,
    `MyExamplePassword1!`, and key bodies that start with EXAMPLE. Vendors (AWS first) mark every value
    in their docs this way."""
    return bool(_EXAMPLE.search(candidate.secret))


_FORMAT = _Lazy(
    r"%[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGcb](?![A-Za-z0-9])|%\(\w*\)[sdifr]?|\{\d*(?:[:!][^{}]*)?\}|"
    r"\{[A-Za-z_]\w*(?:\.\w+)*(?:[:!][^{}]*)?\}"
)


def is_format_string(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Format strings: `%d,%d-%d:`, `token=%s`, `{}:{}`, `Bearer {token}`, `{0!r}`. What is left once the
    placeholders are removed holds no digit: random secrets (`)u5x_w...%ra4...`) always have some."""
    secret = candidate.secret
    if "{" in secret and (f'f"{secret}' in candidate.context or f"f'{secret}" in candidate.context):
        return True  # a Python f-string
    if not _FORMAT.search(secret):
        return False
    return not any(c.isdigit() for c in _FORMAT.sub("", secret))


_REGEX = _Lazy(r"\\[dswbDSWB.()\[\]{}|^$*+?]|\(\?(?:[:=!]|P<)|\[\^|\[[^\]]*-[^\]]*\][*+?{]|\.[*+]\??")


def is_regex(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Regular expressions (`(?:[^"]+)`, `\\s*((npm_.+)|...)`, `[A-Za-z0-9]{32}`) describe secrets."""
    return bool(_REGEX.search(candidate.secret))


_COLOUR = _Lazy(r"(?i)#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})|#?ansi[a-z]+|(?:bold|italic|underline|nobold|noitalic|bg:|border:)\S*")


def is_colour(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Colours and styles (`Token.Keyword: '#ansigreen'`, `Token: '#dddddd'`): syntax-highlighting themes."""
    return bool(_COLOUR.fullmatch(candidate.secret.strip()))


_WEAK_WORD = (
    r"(?:password|passwd|passw|pass|pwd|pw|passw0rd|p4ssw0rd|p4ssword|pa55w0rd|pa55word|pssw0rd|pssword|secret|token|key|admin|root|test|user|guest|demo|qwerty|letmein|"
    r"welcome|changeme|default|sample|dummy|fake|foo|bar|abc|xyz|hello|hunter|tok|value|my|the|a)"
)
_WEAK = _Lazy(r"(?i)(?:" + _WEAK_WORD + r"\d{0,8})+")
_NOT_ALNUM = _Lazy(r"[^A-Za-z0-9]+")
# the word password itself, however spelt: `pa$$w0rd`, `P@ssw0rd!`, `passw0rd1` (not `S3cr3tP@ss`)
_LEET = str.maketrans({"0": "o", "@": "a", "4": "a", "$": "s", "5": "s"})
_PASSWORD_ITSELF = _Lazy(r"pass(?:word|wd)?[0-9]*[!.#]?")


def is_weak_default(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Test-suite and tutorial values: `password1`, `pass1`, `secret123`, `test1@secret`, `Pass@Word1`,
    `P@ssw0rd!` (symbols and a trailing `\\n` are ignored: `pa#ss`). Like the documented defaults, they
    are public knowledge, not leaked secrets. Anything somebody composed is reported, however weak:
    `SuperSecret123!`, `MyAmazonPassword1`, `S3cr3tP@ss!`, `Cisco#123`."""
    secret = candidate.secret.replace("\\n", "")
    if "%" in secret:  # a URL's userinfo writes `P@SSWORD` as `P%40SSWORD`
        secret = urllib.parse.unquote(secret)
    alnum = _NOT_ALNUM.sub("", secret)
    return bool(_WEAK.fullmatch(alnum) or _PASSWORD_ITSELF.fullmatch(secret.lower().translate(_LEET)))


_CONTAINED_PLACEHOLDER = _Lazy(r"(.)\1{5,}|(?i:xxxx|\bxxx\b|^xxx|<[a-z_ -]+>|\byour[-_ ]?\w*(?:key|token|secret|password))")


_REPEATED_CHUNK = _Lazy(r"(.{2,6}?)\1{2,}")


def is_partly_placeholder(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """A value with a masked or placeholder part: `T00000000?token=XXXXXXXX`, `ECrDNoq1VYzzzzzzzzzyAK7`
    (six identical characters in a row never occur in a random secret), `abc<your-key>`, and a short
    chunk repeated (`GR?XGR?XGR?XGR?X`)."""
    secret = candidate.secret
    return bool(_CONTAINED_PLACEHOLDER.search(secret) or _REPEATED_CHUNK.fullmatch(secret))


_CRYPT_HASH = _Lazy(
    r"^(?:\$(?:1|2[abxy]?|5|6|7|9|y|gy|sha1|md5|apr1|argon2(?:i|d|id)?|scrypt|pbkdf2(?:-sha\d+)?)\$\S+|"
    r"(?:pbkdf2_sha\d+|bcrypt(?:_sha256)?|argon2|scrypt)\$\S+|md5[0-9a-f]{32}|SCRAM-SHA-256\$\S+|\{(?:SSHA|SHA|SSHA256|SSHA512|CRYPT|MD5)\}\S+)$"
)


def is_password_hash(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Password hashes (`$6$rounds=...`, `$2b$12$...`, `$argon2id$...`, `pbkdf2_sha256$...`, `{SSHA}...`):
    what a server stores so that it does not keep the password; not the password itself."""
    return bool(_CRYPT_HASH.match(candidate.secret))


def is_unsigned_jwt(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """A JWT without a signature (`eyJhbGciOiJub25lIn0.e30.`), or a JWT header alone
    (`eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9`): anyone can make one, it grants nothing."""
    secret = candidate.secret
    if not secret.startswith("eyJ"):
        return False
    if secret.count(".") == 2 and secret.endswith("."):
        return True
    if "." in secret or len(secret) > 200:
        return False
    import base64
    import binascii

    try:
        header = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except (binascii.Error, ValueError):
        return False
    return header.startswith(b"{") and b'"alg"' in header


_URL_USERINFO = _Lazy(r"//([^\s:/@'\"<>]*):([^\s:/@'\"<>]+)@[^\s/'\"<>]*(/[A-Za-z0-9_.-]*)?")


def is_url_self_password(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Connection URLs whose password repeats the user or the database (`airflow:airflow@host/airflow`,
    `guest:guest@`): the demo defaults of compose files and test suites, not leaked secrets."""
    for match in _URL_USERINFO.finditer(candidate.context):
        user, password, path = match.group(1), match.group(2), (match.group(3) or "").lstrip("/")
        if password == candidate.secret and password.lower() in (user.lower(), path.lower()):
            return True
    return False


_LISTED_ASSIGNMENT = _Lazy(r"[,&;?][A-Za-z_][\w.-]*=")


def is_assignment_list(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """The value runs into the next `key=value` of a list (`Verifier=abc,Salt=def`, `a=1&b=2`): a CLI
    argument or a query string, cut at the wrong place, not one secret."""
    return bool(_LISTED_ASSIGNMENT.search(candidate.secret))


def is_elided(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """A value cut short in documentation (`MIIEowIAB...fvY4+te`, `eyJ2IjoiMSIsInMi...`): not usable."""
    if "..." in candidate.secret or "\u2026" in candidate.secret:
        return True
    tail = candidate.secret[-16:]
    context = candidate.context
    return bool(tail) and (tail + "..." in context or tail + "…" in context)


def _ascending_run(text: str) -> int:
    """The longest run of consecutive characters, up (`abcd`, `1234`) or down (`cba`, `321`)."""
    best = up = down = 1
    for a, b in zip(text, text[1:], strict=False):
        step = ord(b) - ord(a)
        up = up + 1 if step == 1 else 1
        down = down + 1 if step == -1 else 1
        best = max(best, up, down)
    return best


_CYCLES = ("0123456789abcdef", "0123456789abcdefghijklmnopqrstuvwxyz")


def _longest_up(text: str) -> int:
    best = run = 1 if text else 0
    for a, b in zip(text, text[1:], strict=False):
        run = run + 1 if ord(b) - ord(a) == 1 else 1
        best = max(best, run)
    return best


def _mostly_sequential(secret: str) -> bool:
    """`0123456789abcdef0123456789abcdef01234567`, `01234567-5678-9abc-78de-9fgabc123def`: most
    neighbours step by one through 0-9a-f (or 0-9a-z), wrapping around."""
    text = _NOT_ALNUM.sub("", secret).lower()
    if len(text) < 12:
        return False
    steps = 0
    for a, b in zip(text, text[1:], strict=False):
        for cycle in _CYCLES:
            i, j = cycle.find(a), cycle.find(b)
            if i >= 0 and j >= 0 and (j - i) % len(cycle) == 1:
                steps += 1
                break
    return steps >= 0.7 * (len(text) - 1)


_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def is_keyboard_run(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Made-up values: an alphabet run of twelve letters (`AB1C2defGHijkLMNo3PqQRstUvwxyz`, which no
    random secret has), a value that mostly counts up (`0123456789abcdef0123...`) or whose digits count
    up from one to eight (`a123b45c6d78e9f0`, `a1b2c3d4567890ab`), or a short keyboard walk made only
    of a letter run (or a keyboard row) and a digit run (`abcd123`, `321cba`, `asdf1234`, `1234qwer!@#$`). Digits counting down (`f4Ke-9q8w7e6r5t`) stay reported: a shaped fake, not a placeholder."""
    secret = candidate.secret
    letters = "".join(c for c in secret.lower() if "a" <= c <= "z")
    digits = "".join(c for c in secret if c.isdigit())
    runs = _ascending_run(letters) if letters else 0, _ascending_run(digits) if digits else 0
    if runs[0] >= 12 or _mostly_sequential(secret) or _longest_up(digits) >= 8:
        return True
    if len(secret) > 16 or len(letters) < 3 or runs[1] != len(digits):
        return False
    return runs[0] == len(letters) or any(letters in row or letters[::-1] in row for row in _KEYBOARD_ROWS)


_BADGE = _Lazy(r"(?i)badge|\.svg\?token=|shields\.io")


# hosts reserved for documentation (RFC 2606, RFC 6761): a credential in their URLs is an example
_EXAMPLE_URL = _Lazy(
    r"(?i)[a-z][a-z0-9+.-]*://(?:[^/\s?#@]*@)?(?:[a-z0-9-]+\.)*(?:example\.(?:com|net|org)|example|test|invalid)(?::\d+)?[/?#][^\s\"'<>]*"
)


def is_in_example_url(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`https://example.com/protected?access_token=kjfch2345sdf`: documentation's own URLs."""
    context = candidate.context
    if "example" not in context.lower() and ".test" not in context and ".invalid" not in context:
        return False
    return any(candidate.secret in m.group(0) for m in _EXAMPLE_URL.finditer(context))


def is_badge_token(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Status-badge URLs (`codecov.io/.../badge.svg?token=...`): graph tokens are public by design."""
    return bool(_BADGE.search(candidate.context))


_PROSE_EXAMPLE = _Lazy(r"(?i)\be\.g\.|\bfor example\b|\bsuch as\b|\bfor instance\b|\blooks like\b")


def is_prose_example(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Documentation prose introducing the value: `... the private key, e.g. `-----BEGIN RSA PRIVATE
    KEY-----MIIEpQ...`` (API docstrings show the shape of a key, truncated)."""
    head = candidate.secret[:24]
    at = candidate.context.find(head) if head else -1
    return at > 0 and bool(_PROSE_EXAMPLE.search(candidate.context[:at]))


_B64 = _Lazy(r"[A-Za-z0-9+/]{8,}={0,2}")


def is_encoded_placeholder(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Base64 of a placeholder, a weak default or words: `ZXhhbXBsZS1lbmNvZGVk` ("example-encoded"),
    `VGVzdFNlY3JldDE=` ("TestSecret1"). Base64 is encoding: judge what it encodes."""
    secret = candidate.secret
    if len(secret) % 4 or not _B64.fullmatch(secret):
        return False
    import base64
    import binascii

    try:
        text = base64.b64decode(secret, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return False
    if not text.isprintable() or len(text) < 4:
        return False
    decoded = candidate._replace(secret=text)
    return any(
        f(decoded, rule)
        for f in (is_placeholder, is_example, is_weak_default, is_identifier, is_name_like, is_default_value)
    )


def is_key_echo(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """The value repeats its own name: enum members (`v1Token = "v1Token"`), constants
    (`AWS_SecretsManager_Secret = "AWS::SecretsManager::Secret"`), names built on the key's first word
    (`account_key: account-ec256`)."""
    if not candidate.key:
        return False
    key = _NOT_ALNUM.sub("", candidate.key).lower()
    value = _NOT_ALNUM.sub("", candidate.secret).lower()
    if len(key) >= 4 and (value == key or (len(key) >= 8 and value.endswith(key))):
        return True
    # a name derived from the key: `account_key: account-ec256`
    first = key_tokens(candidate.key)[:1]
    return bool(first) and len(first[0]) >= 4 and candidate.secret.lower().startswith((first[0] + "-", first[0] + "_"))


def is_not_basic_auth(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """Docker `auths.*.auth` is base64 of `user:password`; anything else under `"auth"` is not."""
    import base64
    import binascii

    try:
        decoded = base64.b64decode(candidate.secret, validate=True)
    except (binascii.Error, ValueError):
        return True
    return b":" not in decoded


def is_not_a_basic_password(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`Authorization: Basic <base64>`: decode `user:password` and judge the password like any other
    value (`admin:admin`, `user:changeme`, `username:password`, `ci:${TOKEN}` are not leaks); anything
    that does not decode to `user:password` is not Basic credentials."""
    import base64
    import binascii

    secret = candidate.secret
    try:
        text = base64.b64decode(secret + "=" * (-len(secret) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return True
    user, sep, password = text.partition(":")
    if not sep or not password or not text.isprintable():
        return True
    if password.lower() == user.lower():
        return True
    decoded = candidate._replace(secret=password, key="password")
    return any(f(decoded, rule) for f in _BASIC_PASSWORD_FILTERS)


# --- detect-secrets' heuristics, same behaviour, without importing detect_secrets ---------------------
# (importing it pulls in requests and its plugins: 0.3-0.7 s per process, more than a pre-commit run)

_SEQUENCES = (
    string.ascii_uppercase * 2 + string.digits + "+/",  # base64 alphabet, letters first
    string.digits + string.ascii_uppercase * 2 + "+/",  # ... digits first
    (string.digits + string.ascii_uppercase) * 2,
    string.digits * 2,
    string.hexdigits.upper() * 2,
    string.ascii_uppercase + "=/",
)
_UUID = _Lazy(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}", re.IGNORECASE)


def is_sequential(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`abcdef`, `123456`, `ABCDEF0123` (detect-secrets `is_sequential_string`)."""
    upper = candidate.secret.upper()
    return any(upper in sequence for sequence in _SEQUENCES)


def is_uuid(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """UUIDs are identifiers (detect-secrets `is_potential_uuid`), except under a vendor's key name:
    Heroku, Snyk, Azure DevOps, Octopus... issue API keys that are UUIDs (`HEROKU_API_KEY: <uuid>`), while
    `apiKey: <uuid>` or `session_token: <uuid>` say nothing of whose key it is."""
    if _UUID.search(candidate.secret) is None:
        return False
    return not _vendor_key(candidate.key)


_GENERIC_KEY_WORDS = SECRET_WORDS | _KEY_PARTNERS | SECRET_SUFFIXES | frozenset(
    "key my the our your x id api web site db database default config conf settings env var".split()
)


def _vendor_key(key: str) -> bool:
    """A secret name that also names whose secret it is: `HEROKU_API_KEY`, `snykToken`, `NEW_RELIC_LICENSE_KEY`."""
    if not key or not is_secret_key(key):
        return False
    return any(len(t) >= 3 and t.isalpha() and t not in _GENERIC_KEY_WORDS for t in key_tokens(key))


def is_templated(candidate, rule: Rule) -> bool:  # noqa: ANN001
    """`{secret}`, `<secret>`, `${secret}` (detect-secrets `is_templated_secret`); an empty or `$` value too."""
    secret = candidate.secret
    if not secret:
        return True
    first, last = secret[0], secret[-1]
    if (first == "{" and last == "}") or (first == "<" and last == ">"):
        return True
    return first == "$" and (len(secret) < 2 or (secret[1] == "{" and last == "}"))


# --- file-level: lock files -------------------------------------------------------------------------

LOCK_FILES = frozenset(
    {
        "Brewfile.lock.json",
        "Cartfile.resolved",
        "composer.lock",
        "Gemfile.lock",
        "Package.resolved",
        "package-lock.json",
        "npm-shrinkwrap.json",
        "Podfile.lock",
        "yarn.lock",
        "pnpm-lock.yaml",
        "Pipfile.lock",
        "poetry.lock",
        "pdm.lock",
        "uv.lock",
        "Cargo.lock",
        "packages.lock.json",
        "go.sum",
        "mix.lock",
        "flake.lock",
        "pubspec.lock",
        "bun.lock",
        "gradle.lockfile",
        "conda-lock.yml",
        ".terraform.lock.hcl",
        "deno.lock",
        "paket.lock",
        "Manifest.toml",
    }
)


def is_lock_file(path: str) -> bool:
    """Lock files hold integrity hashes and resolved URLs, not secrets (detect-secrets' list and more).
    A cheap set lookup: this runs on every item, so detect-secrets is not imported for it."""
    return path.rsplit("/", 1)[-1] in LOCK_FILES


# (documented examples are not dropped: secrets.py reports them at `info`, see is_documented_example)
DEFAULT: tuple[str, ...] = ("template", "placeholder", "repeated", "data-uri")
FILTERS: dict[str, Callable] = {
    "template": is_template,
    "placeholder": is_placeholder,
    "repeated": is_repeated,
    "data-uri": is_in_data_uri,
    "documented-example": is_documented_example,
    "key-not-secret": is_not_secret_key,
    "vault-annotation": is_vault_annotation,
    "template-anywhere": is_template_anywhere,
    "reference": is_reference,
    "path-or-url": is_path_or_url,
    "not-a-word": is_not_a_word_secret,
    "default-value": is_default_value,
    "name-like": is_name_like,
    "public-material": is_public_material,
    "not-basic-auth": is_not_basic_auth,
    "sequential": is_sequential,
    "uuid": is_uuid,
    "templated": is_templated,
    "identifier": is_identifier,
    "example": is_example,
    "contains-example": contains_example,
    "format-string": is_format_string,
    "regex": is_regex,
    "colour": is_colour,
    "weak-default": is_weak_default,
    "keyboard-run": is_keyboard_run,
    "assignment-list": is_assignment_list,
    "elided": is_elided,
    "partly-placeholder": is_partly_placeholder,
    "password-hash": is_password_hash,
    "unsigned-jwt": is_unsigned_jwt,
    "url-self-password": is_url_self_password,
    "badge-token": is_badge_token,
    "key-echo": is_key_echo,
    "prose-example": is_prose_example,
    "encoded-placeholder": is_encoded_placeholder,
    "basic-auth-password": is_not_a_basic_password,
    "example-url": is_in_example_url,
}
FILTERS.update(checksums.FILTERS)  # `checksum`: GitHub/npm CRC32, age Bech32 (engines/checksums.py)
DEFAULT += tuple(checksums.FILTERS)  # every rule, generic ones too: a token with a wrong checksum is made up
# the usual set for "key = value" rules, in the order they run (detect-secrets' last: lazy import)
GENERIC: tuple[str, ...] = (
    "key-not-secret",
    "vault-annotation",
    "template-anywhere",
    "reference",
    "path-or-url",
    "not-a-word",
    "default-value",
    "name-like",
    "identifier",
    "weak-default",
    "example",
    "format-string",
    "regex",
    "colour",
    "keyboard-run",
    "assignment-list",
    "elided",
    "partly-placeholder",
    "password-hash",
    "unsigned-jwt",
    "badge-token",
    "key-echo",
    "prose-example",
    "encoded-placeholder",
    "public-material",
    "templated",
    "uuid",
    "sequential",
)
# the same without the key test: rules whose `key` is a header or API name, not a secret's name
GENERIC_VALUE: tuple[str, ...] = tuple(n for n in GENERIC if n != "key-not-secret")
FILTERS_GROUPS: dict[str, tuple[str, ...]] = {"generic": GENERIC, "generic-value": GENERIC_VALUE}
_BASIC_PASSWORD_FILTERS: tuple[Callable, ...] = tuple(
    FILTERS[n] for n in DEFAULT + GENERIC_VALUE if n not in ("data-uri", "encoded-placeholder", "uuid")
)


def pipeline(rule: Rule) -> tuple[Callable, ...]:
    names = list(DEFAULT)
    for name in rule.filters:
        for n in FILTERS_GROUPS.get(name, (name,)):
            if n not in names:
                names.append(n)
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        known = ", ".join(sorted(FILTERS) + sorted(FILTERS_GROUPS))
        raise KeyError(f"{rule.source}:{rule.source_line}: {rule.id}.filters: unknown filter {', '.join(unknown)} (known: {known})")
    return tuple(FILTERS[n] for n in names)
