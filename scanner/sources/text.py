"""What a file's bytes are: text (in which encoding) or binary. Every source hands the engines UTF-8.

The judgement, cheapest first (only the first SNIFF bytes are looked at):

- a byte-order mark decides: UTF-8, UTF-32 (checked before UTF-16: `FF FE 00 00` starts with the
  UTF-16 LE mark), UTF-16;
- a known binary signature (PNG, JPEG, GIF, ELF, Mach-O, zip/jar/docx, gzip, bzip2, xz, zstd, 7z,
  PDF, SQLite, class files, WebAssembly...) followed by a NUL or a byte over 0x7F is binary;
- no NUL byte at all: text. Bytes that are not UTF-8 are read as Latin-1 one by one (a file that
  is UTF-8 but for a few bytes keeps its UTF-8 characters);
- NUL bytes where UTF-32 or UTF-16 without a mark puts them (every fourth or every other byte of
  mostly-ASCII text) and the decoded text is printable: that encoding;
- otherwise the share of control bytes (NUL and the C0 controls that are not whitespace) decides,
  like `file` and unlike git (which calls any NUL binary): a `.env` with one stray NUL byte is text,
  an executable or a database file (NUL-heavy) is binary, and so is a sample that is mostly not
  UTF-8 (compressed or random bytes).
"""

from __future__ import annotations

import codecs

SNIFF = 8192
# control bytes text does not hold: C0 except tab, LF, VT, FF, CR, ESC; and NUL
_CONTROL = bytes([b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)])
# text with NULs: at most this many control bytes, or this share of the sniffed part (a stray NUL or
# two in a .env); binaries are NUL-heavy, random or compressed bytes ~10% control bytes
MAX_CONTROL_BYTES = 2
MAX_CONTROL_SHARE = 0.02
MAX_BAD_SHARE = 0.10  # decoded UTF-16/32 or UTF-8 with NULs: at most this share of garbage
WIDE_NUL_SHARE = 0.25  # this many NULs: UTF-16 or UTF-32 text, or binary
_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"\x7fELF", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"BZh",
    b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"7z\xbc\xaf\x27\x1c", b"%PDF-", b"SQLite format 3\x00", b"\x00asm",
    b"Rar!\x1a\x07", b"OggS", b"RIFF", b"\x00\x00\x01\x00", b"ID3", b"fLaC", b"wOFF", b"wOF2", b"\x00\x01\x00\x00\x00",
    b"MSCF", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"!<arch>\n",
)  # fmt: skip
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)  # fmt: skip
_BOM_STARTS = frozenset(bom[:1] for bom, _ in _BOMS)  # most files start with none of these bytes


def encoding(head: bytes) -> str | None:
    """The encoding of a file whose first bytes are `head` ("utf-8" for UTF-8, ASCII or a Latin-1
    fallback), or None when it is binary. `head` is the first SNIFF bytes or more."""
    if head[:1] in _BOM_STARTS:
        for bom, name in _BOMS:
            if head.startswith(bom):
                return name
    if head.find(b"\0", 0, SNIFF) == -1:  # the common case, without copying the sample
        return "utf-8" if not head.startswith(_SIGNATURES) or head[:SNIFF].isascii() else None
    if head.startswith(_SIGNATURES):
        return None
    sample = head if len(head) <= SNIFF else head[:SNIFF]
    if sample.count(b"\0") >= WIDE_NUL_SHARE * len(sample):  # UTF-16 of ASCII: half NULs, UTF-32: 3/4
        return _wide_encoding(sample)
    control = len(sample) - len(sample.translate(None, _CONTROL))
    if control > max(MAX_CONTROL_BYTES, MAX_CONTROL_SHARE * len(sample)):
        return None
    # a few NULs in text, or compressed or random bytes (about half of them not UTF-8)
    undecodable = sample[:-3].decode("utf-8", "replace").count("\ufffd")
    return None if undecodable > MAX_BAD_SHARE * len(sample) else "utf-8"


def _wide_encoding(sample: bytes) -> str | None:
    """UTF-32 or UTF-16 without a byte-order mark, from where the NUL bytes fall."""
    n = len(sample)
    if n < 4 or max(sample[0:64:2].count(b"\0"), sample[1:64:2].count(b"\0")) < min(16, n // 4):
        return None  # the first 64 bytes do not alternate: a binary (the common case here), at once
    by_offset = [sample[i::4].count(b"\0") for i in range(4)]
    quarter = n / 4
    for name, zeros, other in (("utf-32-le", (1, 2, 3), 0), ("utf-32-be", (0, 1, 2), 3)):
        if all(by_offset[i] >= 0.9 * quarter for i in zeros) and by_offset[other] < 0.5 * quarter:
            return name if _printable(sample[: n - n % 4], name) else None
    even, odd = by_offset[0] + by_offset[2], by_offset[1] + by_offset[3]
    half = n / 2
    if odd >= 0.6 * half and even < 0.1 * half:
        return "utf-16-le" if _printable(sample[: n - n % 2], "utf-16-le") else None
    if even >= 0.6 * half and odd < 0.1 * half:
        return "utf-16-be" if _printable(sample[: n - n % 2], "utf-16-be") else None
    return None


def _printable(sample: bytes, name: str) -> bool:
    text = sample.decode(name, "replace")
    bad = sum(1 for c in text if (c < " " and c not in "\t\n\r\f\v\x1b") or c == "\ufffd")
    return bad <= MAX_BAD_SHARE * max(1, len(text))


def to_utf8(data: bytes, name: str = "utf-8") -> bytes:
    """The file's text as UTF-8, lines unchanged. A byte-order mark is dropped; for UTF-8, bytes that
    do not decode are taken as Latin-1 one by one; a wide encoding's undecodable units become U+FFFD."""
    if name == "utf-8":
        if data.startswith(codecs.BOM_UTF8):
            data = data[3:]
        if data.isascii():
            return data
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            return data.decode("utf-8", "surrogateescape").encode("utf-8", "latin1_fallback")
    for bom, bom_name in _BOMS:
        if bom_name == name and data.startswith(bom):
            data = data[len(bom) :]
            break
    return data.decode(name, "replace").encode("utf-8", "surrogatepass")


def decode(data: bytes) -> bytes | None:
    """UTF-8 text for any text file, None for binary."""
    name = encoding(data)
    return None if name is None else to_utf8(data, name)


def _latin1_fallback(error: UnicodeError) -> tuple[bytes, int]:
    """Encode the surrogate escapes of undecodable bytes (U+DC80..U+DCFF) as the UTF-8 of the Latin-1
    characters of those bytes; any other lone surrogate as U+FFFD."""
    assert isinstance(error, UnicodeEncodeError)
    chunk = error.object[error.start : error.end]
    out = "".join(chr(ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else "\ufffd" for c in chunk)
    return out.encode("utf-8"), error.end


codecs.register_error("latin1_fallback", _latin1_fallback)
