"""Vietnamese text helpers."""

from __future__ import annotations

import unicodedata

# NFD splits every Vietnamese vowel into a base letter and combining marks; only đ/Đ are
# letters of their own, so this two-line fold is complete for Vietnamese (no library needed).
_EXTRA = str.maketrans({"đ": "d", "Đ": "D"})


def fold(text: str) -> str:
    """Return ``text`` without diacritics, lower-cased: ``'Phường Đa Kao'`` → ``'phuong da kao'``."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC, the form the database stores."""
    return unicodedata.normalize("NFC", text)
