"""Caption search and hybrid fusion.

Why reciprocal rank fusion: CLIP cosines and BM25 scores live on different
scales; fusing ranks (1 / (k + rank)) needs no calibration and rewards
images that both rankings like, which is what "red bicycle" should find.
"""

from __future__ import annotations

import re

from clipgit.core.errors import QueryError
from clipgit.core.search.query import Term

RRF_K = 60
MODES = ("auto", "clip", "caption", "hybrid")

_TOKEN = re.compile(r'"[^"]+"|[^\W_]+\*?', re.UNICODE)
# Words nearly every caption holds ("a cat sitting on a couch"): OR'ed in, "a" matched every captioned image,
# so in hybrid mode an image ranked higher for having a caption at all (captions are written on demand, as
# images are looked at). Dropped where the query has other words; a query of them alone keeps them.
STOPWORDS = frozenset(["a", "an", "the", "of", "on", "in", "at", "with", "and", "to", "is", "are", "it", "its",
                       "by", "for", "from", "this", "that", "there", "some"])


def fts_query(terms: list[Term]) -> str:
    """An FTS5 query from the text terms: words OR'ed (prefix with `*`, phrases in quotes), minus NOT'ed."""
    positive: list[str] = []
    negative: list[str] = []
    stop: set[str] = set()  # positive items that are stopwords
    for term in terms:
        if term.kind != "text":
            continue
        for token in _TOKEN.findall(term.value.lower()):
            if token.startswith('"'):
                words = re.findall(r"[^\W_]+", token)
                item = '"' + " ".join(words) + '"' if words else ""
            else:
                prefix = token.endswith("*")
                item = '"' + token.rstrip("*") + '"' + ("*" if prefix else "")
            if item:
                (positive if term.weight > 0 else negative).append(item)
                if token in STOPWORDS:
                    stop.add(item)
    if not positive:
        raise QueryError("caption search needs at least one word to look for")
    if any(item not in stop for item in positive):
        positive = [item for item in positive if item not in stop]
    query = "(" + " OR ".join(dict.fromkeys(positive)) + ")"
    if negative:
        query += " NOT (" + " OR ".join(dict.fromkeys(negative)) + ")"
    return query


def text_words(terms: list[Term]) -> list[str]:
    """The folded words of the positive text terms that recognised text is searched for (stopwords left out
    where there are others): a plain query in hybrid mode also finds the picture of a sign that says it."""
    from clipgit.core.models.fold import fold

    words = [w for t in terms if t.kind == "text" and t.weight > 0 for w in re.findall(r"[^\W_]+", fold(t.value))]
    kept = [w for w in words if w not in STOPWORDS]
    return list(dict.fromkeys(kept or words))


def fuse(clip_ranked: list[int], caption_ranked: list[int], *more: list[int],
         k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of rankings of image ids (CLIP's, the captions', the recognised text's), best first."""
    scores: dict[int, float] = {}
    for ranking in (clip_ranked, caption_ranked, *more):
        for rank, image_id in enumerate(ranking, start=1):
            scores[image_id] = scores.get(image_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
