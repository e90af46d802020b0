"""One way to compare words for search: any case, accents ignored, a word found inside a longer token.

Why: text read in pictures and place names come in every case and accent ("ZÜRICH", "Zürich", "zurich"), and
OCR often runs words together ("OPENDAILY"); a person types the plain word. Both sides go through `fold`, then a
substring test answers `text:` and place queries alike.
"""

from __future__ import annotations

import re
import unicodedata

# Letters that NFKD does not split into base + accent, spelled as a person without the key would type them
_SPELLED = str.maketrans({"ø": "o", "đ": "d", "ħ": "h", "ł": "l", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"})
# The combining diacritical mark blocks only: kana voicing marks (U+3099) and Hangul jamo are not accents, and NFC
# puts them back together
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Casefolded, accents removed (NFKD, combining diacritical marks dropped), every other character kept.

    `fold("Zürich") == "zurich"`, `fold("Straße") == "strasse"`, `fold("ＡＢＣ") == "abc"`; CJK and digits stay.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", _ACCENTS.sub("", decomposed).translate(_SPELLED))


def contains(haystack: str, needle: str) -> bool:
    """`needle` occurs in `haystack` after folding both: a word matches inside a longer token."""
    folded = fold(needle).strip()
    return bool(folded) and folded in fold(haystack)
