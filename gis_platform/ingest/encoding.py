"""Text encodings of uploaded files: UTF-8, and the legacy Vietnamese cp1258 and TCVN3 (ABC).

Python ships cp1258 but no TCVN3 codec, and no PyPI package decodes TCVN3 reliably (the few that exist
map only the lower-case letters or work on whole strings with regular expressions), so the table is
here: TCVN 5712:1993 as glibc's iconv ``TCVN5712-1`` decodes it. VN3 ("ABC", the .VnTime fonts) is the
common subset: lower-case letters, ĂÂÊÔƠƯĐ, and the bytes 0x80-0xFF only (C0 controls stay ASCII).

Legacy text reaches the platform in two forms: as bytes in a file (a DBF, a CSV saved by an old tool),
or as Latin-1 characters inside a UTF-8 file (text typed with a .VnTime font and saved as "Unicode").
Both are decoded the same way: the characters U+0000-U+00FF are the bytes. Text that is already real
Vietnamese Unicode (characters above U+00FF) while a legacy encoding is declared is an error, as is
text that does not decode in the declared encoding. Everything comes out in NFC.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from gis_platform.ingest.errors import EncodingError

if TYPE_CHECKING:
    from typing_extensions import Buffer

UTF8 = "utf-8"
CP1258 = "cp1258"
TCVN3 = "tcvn3"

_TCVN3_HIGH = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x8_
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x9_
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA_
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB_ (0xB0-0xB4: combining tone marks)
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC_
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD_
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE_
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF_
)
TCVN3_TABLE = "".join(chr(i) for i in range(128)) + _TCVN3_HIGH
assert len(TCVN3_TABLE) == 256  # noqa: S101 - a wrong table must not load

#: Names people and .cpg files use, folded to lower case without spaces, dashes or underscores.
_ALIASES = {
    "utf8": UTF8, "65001": UTF8, "unicode": UTF8,
    "cp1258": CP1258, "1258": CP1258, "windows1258": CP1258, "ansi1258": CP1258, "win1258": CP1258,
    "tcvn3": TCVN3, "tcvn": TCVN3, "abc": TCVN3, "vn3": TCVN3, "tcvn5712": TCVN3, "tcvn57121": TCVN3,
    "tcvn57121993": TCVN3, "vntime": TCVN3,
    "cp1252": "cp1252", "1252": "cp1252", "windows1252": "cp1252", "ansi1252": "cp1252",
    "latin1": "latin-1", "iso88591": "latin-1", "88591": "latin-1", "ascii": UTF8, "usascii": UTF8,
}  # fmt: skip
# Telling TCVN3 from cp1258 (both decode almost any byte): in TCVN3 text the bytes 0xA1-0xAE (ĂÂÊÔƠƯĐ
# ăâêôơưđ) and 0xB5-0xBE (à-ạ, ằ-ắ) are common letters, and 0xC0-0xDF are lower-case toned letters that
# follow lower-case letters; in cp1258 text those are rare symbols and capitals, and its combining tone
# marks (0xCC 0xEC 0xD2 0xDE 0xF2) follow vowels.
_TCVN3_LETTERS = bytes(range(0xA1, 0xAF)) + bytes(range(0xB5, 0xBF))
_CP1258_TONES = b"\xcc\xec\xd2\xde\xf2"
_TONE_AFTER_VOWEL = re.compile(
    b"[aeiouyAEIOUY\xe2\xea\xf4\xf5\xfd\xe3\xc2\xca\xd4\xd5\xdd\xc3][\xcc\xec\xd2\xde\xf2]"
)
_TONED_AFTER_LOWER = re.compile(b"[a-z][\xc0-\xcb\xcd-\xd1\xd3-\xdd\xdf]")
_CHUNK = 1 << 20
#: Characters NFC may change: combining marks, and the singletons that decompose (Ω Å K, CJK compatibility).
_NOT_NFC = r"[\p{M}\x{2126}\x{212A}\x{212B}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]"


def canonical_encoding(name: str | None) -> str | None:
    """Map an encoding name (form field, CLI option or .cpg content) to one the platform decodes."""
    if name is None or not name.strip():
        return None
    key = "".join(ch for ch in name.strip().lower() if ch.isalnum())
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        info = codecs.lookup(name.strip())
        if not getattr(info, "_is_text_encoding", True):  # zlib, base64 …: what str.decode refuses too
            raise LookupError(name)
        return info.name
    except LookupError:
        raise EncodingError(
            f"Unknown encoding {name!r}; use utf-8, cp1258 or tcvn3.", parameter="encoding"
        ) from None


def is_legacy(encoding: str | None) -> bool:
    """True for encodings other than UTF-8."""
    return encoding is not None and encoding != UTF8


def decode(raw: bytes, encoding: str) -> str:
    """Decode ``raw`` strictly (``UnicodeDecodeError`` when it is not valid in ``encoding``)."""
    if encoding == TCVN3:
        return codecs.charmap_decode(raw, "strict", TCVN3_TABLE)[0]
    return raw.decode(encoding)


def tcvn3_evidence(raw: bytes) -> tuple[int, int]:
    """Counts of bytes that speak for TCVN3 and for cp1258 (C-speed: translate and regex)."""
    letters = len(raw) - len(raw.translate(None, _TCVN3_LETTERS))
    tones = len(raw) - len(raw.translate(None, _CP1258_TONES))
    after_vowel = len(_TONE_AFTER_VOWEL.findall(raw))
    toned = len(_TONED_AFTER_LOWER.findall(raw))
    return letters + toned + tones - after_vowel, after_vowel


def looks_like_tcvn3(raw: bytes) -> bool:
    """True when bytes declared (or read) as cp1258 are more likely TCVN3 (ABC) text."""
    tcvn, cp = tcvn3_evidence(raw)
    return tcvn >= 2 and tcvn > cp


def guess(raw: bytes) -> str:
    """Name the likely encoding of bytes that are not UTF-8 (for error messages)."""
    tcvn, cp = tcvn3_evidence(raw)
    return TCVN3 if tcvn > cp else CP1258


def decode_value(value: str, encoding: str) -> str:
    """Decode one legacy value carried as Latin-1 characters (see the module docstring).

    Raises:
        UnicodeError: the value is real Unicode (``UnicodeEncodeError``) or not valid in ``encoding``.
    """
    return decode(value.encode("latin-1"), encoding)


def decode_array(array: pa.Array, encoding: str, *, column: str, first_feature: int) -> pa.Array:
    """Decode a string column of Latin-1-carried legacy text; NFC; errors name column and feature."""
    if array.null_count == len(array) or pc.all(pc.string_is_ascii(array)).as_py():
        return array
    out: list[str | None] = []
    tcvn, cp, first_tcvn = 0, 0, -1
    for i, value in enumerate(array.to_pylist()):
        if value is None or value.isascii():
            out.append(value)
            continue
        try:
            out.append(decode_value(value, encoding))
        except UnicodeError as exc:
            raise _value_error(value, encoding, exc, column=column, feature=first_feature + i) from None
        if encoding == CP1258:
            t, c = tcvn3_evidence(value.encode("latin-1"))
            tcvn, cp = tcvn + t, cp + c
            first_tcvn = i if first_tcvn < 0 and t > c else first_tcvn
    if encoding == CP1258 and tcvn >= 2 and tcvn > cp:
        feature = first_feature + max(first_tcvn, 0)
        raise EncodingError(
            f"column {column!r}, feature {feature}: the text was declared cp1258 but looks like TCVN3 (ABC); "
            "declare encoding=tcvn3.",
            column=column, feature=feature, declared=encoding,
        )  # fmt: skip
    return to_nfc(pa.array(out, type=pa.string()))


def _value_error(value: str, encoding: str, exc: UnicodeError, *, column: str, feature: int) -> EncodingError:
    where = f"column {column!r}, feature {feature}"
    if isinstance(exc, UnicodeEncodeError):
        detail = (
            f"{where}: the text {value[:40]!r} is already Unicode, but the file was declared {encoding}; "
            "upload it without an encoding (UTF-8)."
        )
    else:
        raw = value.encode("latin-1")
        try:
            raw.decode(UTF8)
            found = UTF8
        except UnicodeDecodeError:
            found = guess(raw)
        detail = (
            f"{where}: the text is not valid {encoding}; it looks like {found}. "
            f"Declare encoding={found} (form field 'encoding', CLI --encoding, or a .cpg file)."
        )
    return EncodingError(detail, column=column, feature=feature, declared=encoding)


def check_utf8_array(array: pa.Array, *, column: str, first_feature: int) -> pa.Array:
    """Validate a string column that should hold UTF-8; NFC; errors name column, feature and a guess."""
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        raws = array.view(pa.binary()).to_pylist()
        for i, raw in enumerate(raws):
            if raw is None:
                continue
            try:
                raw.decode(UTF8)
            except UnicodeDecodeError:
                found = guess(raw)
                raise EncodingError(
                    f"column {column!r}, feature {first_feature + i}: the text is not valid UTF-8; it "
                    f"looks like {found}. Declare encoding={found} (form field 'encoding' or CLI --encoding).",
                    column=column, feature=first_feature + i, declared=UTF8,
                ) from None  # fmt: skip
        raise
    return to_nfc(array)


def to_nfc(array: pa.Array) -> pa.Array:
    """NFC-normalise a string column; skipped when no value can change (the common, fast case)."""
    if (
        pc.all(pc.string_is_ascii(array)).as_py()
        or not pc.any(pc.match_substring_regex(array, _NOT_NFC)).as_py()
    ):
        return array
    return pc.utf8_normalize(array, "NFC")


def prepare_text_file(src: Path, dst: Path, encoding: str | None, *, is_csv: bool) -> tuple[Path, bool]:
    """Make a text file (CSV, GeoJSON) readable by GDAL, which expects UTF-8.

    Returns the path to read and whether values still need decoding as Latin-1-carried ``encoding``
    (a valid UTF-8 file with a legacy encoding declared). A file that is not UTF-8 is transcoded from
    the declared encoding into ``dst``; without a declaration it is an error that guesses the encoding.
    """
    first_bad = _first_invalid_utf8(src)
    if first_bad is None:
        return src, is_legacy(encoding)
    offset, line, raw_line = first_bad
    if not is_legacy(encoding):
        found = guess(raw_line)
        raise EncodingError(
            f"line {line}: the file is not valid UTF-8 (byte {offset}); it looks like {found}. "
            f"Declare encoding={found} (form field 'encoding' or CLI --encoding).",
            row=line, column=_csv_column(src, raw_line, UTF8) if is_csv else None, declared=UTF8,
        )  # fmt: skip
    assert encoding is not None  # noqa: S101 - is_legacy checked it
    _transcode(src, dst, encoding, is_csv=is_csv)
    return dst, False


def _first_invalid_utf8(path: Path) -> tuple[int, int, bytes] | None:
    decoder = codecs.getincrementaldecoder(UTF8)()
    offset, lines = 0, 1
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                return bad, lines + chunk.count(b"\n", 0, exc.start), _line_at(path, bad)
            offset += len(chunk)
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, lines, _line_at(path, max(offset - 1, 0))
    return None


def _line_at(path: Path, offset: int) -> bytes:
    with path.open("rb") as f:
        f.seek(max(0, offset - 4096))
        before = f.read(offset - max(0, offset - 4096))
        after = f.readline(4096)
    return before.rsplit(b"\n", 1)[-1] + after.rstrip(b"\r\n")


class _Tcvn3Decoder(codecs.IncrementalDecoder):
    """TCVN3 is one byte per character, so every chunk decodes on its own."""

    def decode(self, input: Buffer, final: bool = False) -> str:
        return codecs.charmap_decode(bytes(input), self.errors, TCVN3_TABLE)[0]


def _transcode(src: Path, dst: Path, encoding: str, *, is_csv: bool) -> None:
    decoder = _Tcvn3Decoder() if encoding == TCVN3 else codecs.getincrementaldecoder(encoding)()
    lines, tcvn, cp, first_tcvn_line = 1, 0, 0, 0
    with src.open("rb") as fin, dst.open("w", encoding=UTF8, newline="") as fout:
        while chunk := fin.read(_CHUNK):
            try:
                fout.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                line = lines + chunk.count(b"\n", 0, exc.start)
                bad_line = chunk[: exc.end].rsplit(b"\n", 1)[-1]
                raise EncodingError(
                    f"line {line}: the file is not valid {encoding} as declared.",
                    row=line, declared=encoding, column=_csv_column(src, bad_line, encoding) if is_csv else None,
                ) from None  # fmt: skip
            if encoding == CP1258:
                t, c = tcvn3_evidence(chunk)
                if t > c and not first_tcvn_line:
                    first_tcvn_line = lines + _first_tcvn_line(chunk)
                tcvn, cp = tcvn + t, cp + c
            lines += chunk.count(b"\n")
    if tcvn >= 2 and tcvn > cp:
        raise EncodingError(
            f"line {first_tcvn_line or 1}: the file was declared cp1258 but looks like TCVN3 (ABC); "
            "declare encoding=tcvn3.",
            row=first_tcvn_line or 1, declared=encoding,
        )  # fmt: skip


def _first_tcvn_line(chunk: bytes) -> int:
    """Lines before the first line of ``chunk`` that looks like TCVN3."""
    for n, line in enumerate(chunk.split(b"\n")):
        t, c = tcvn3_evidence(line)
        if t > c:
            return n
    return 0


def _display(raw: bytes) -> str:
    """Bytes of unknown encoding as readable text: UTF-8, else the likely legacy encoding."""
    try:
        return raw.decode(UTF8)
    except UnicodeDecodeError:
        return unicodedata.normalize("NFC", decode(raw, guess(raw)))


def _csv_column(path: Path, raw_line: bytes, encoding: str) -> str | None:
    """The header name of the field of ``raw_line`` that does not decode (best effort)."""
    try:
        with path.open("rb") as f:
            header_raw = f.readline(1 << 16)
        header = next(csv.reader([_display(header_raw).lstrip("\ufeff")]))
        fields = next(csv.reader([raw_line.decode("latin-1")]))
    except (OSError, StopIteration, csv.Error):
        return None
    for name, value in zip(header, fields, strict=False):
        try:
            decode(value.encode("latin-1"), encoding)
        except UnicodeError:
            return name.strip()
    return None


def text_of(raw: bytes, encoding: str | None) -> str:
    """Decode a small side file (.prj) leniently."""
    for enc in (encoding or UTF8, "latin-1"):
        try:
            return decode(raw, enc) if enc == TCVN3 else raw.decode(enc)
        except UnicodeError:
            continue
    return io.TextIOWrapper(io.BytesIO(raw), errors="replace").read()
