"""Parse a query like "beach + 2:sunset - people" or "./IMG_0042.jpg - 0.5:snow".

A query is a weighted sum of terms; each term is text or an image file. `+`
and `-` must stand apart (spaces around them) so "t-shirt" stays one word;
`W:` before a term weights it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from clipgit.core.errors import QueryError
from clipgit.core.names import absolute
from clipgit.core.scan import is_image_name

_OPERATOR = re.compile(r"(?:^|\s+)([+-])(?:\s+|$)")
_WEIGHT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*:\s*(.*)$", re.S)


@dataclass(frozen=True)
class Term:
    kind: str  # "text" | "image"
    value: str  # the text, or the image's absolute path
    weight: float


def parse(query: str) -> list[Term]:
    text = query.strip()
    if not text:
        raise QueryError("the query is empty")
    pieces = _OPERATOR.split(" " + text if text[0] in "+-" else text)
    # split() gives [term, op, term, op, term...]; a leading operator yields an empty first term
    terms: list[Term] = []
    sign = 1.0
    for i, piece in enumerate(pieces):
        if i % 2 == 1:
            sign = -1.0 if piece == "-" else 1.0
            continue
        piece = piece.strip()
        if not piece:
            if i == 0:
                continue
            raise QueryError("a + or - in the query has nothing after it")
        terms.append(_term(piece, sign))
    if not terms:
        raise QueryError("the query has no terms")
    if all(t.weight <= 0 for t in terms):
        raise QueryError("the query has only negative terms: add something to look for")
    return terms


def _term(piece: str, sign: float) -> Term:
    weight = 1.0
    match = _WEIGHT.match(piece)
    if match:
        weight = float(match.group(1))
        piece = match.group(2).strip()
    if not piece:
        raise QueryError("a weighted term has nothing after its ':'")
    quoted = len(piece) >= 2 and piece[0] == piece[-1] and piece[0] in "'\""
    if quoted and os.path.isfile(os.path.expanduser(piece[1:-1])):
        piece = piece[1:-1]  # a quoted file name; quoted words stay a phrase for caption search
    path = os.path.expanduser(piece)
    looks_like_path = os.sep in piece or piece.startswith("~")
    if os.path.isfile(path) and (is_image_name(path) or looks_like_path):
        return Term("image", absolute(path), sign * weight)
    if looks_like_path and is_image_name(path):
        raise QueryError(f"image file not found: {piece}")
    return Term("text", piece, sign * weight)
