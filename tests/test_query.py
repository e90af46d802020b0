from pathlib import Path

import pytest

from clipgit.core.errors import QueryError
from clipgit.core.search.query import Term, parse


def test_plain_text_is_one_term_and_hyphens_stay_inside_words() -> None:
    assert parse("a man in a t-shirt") == [Term("text", "a man in a t-shirt", 1.0)]


def test_plus_minus_and_weights() -> None:
    assert parse("beach + 2:sunset - people") == [
        Term("text", "beach", 1.0), Term("text", "sunset", 2.0), Term("text", "people", -1.0)]
    assert parse("0.5:red car + .25:blue") == [Term("text", "red car", 0.5), Term("text", "blue", 0.25)]


def test_leading_minus_and_quotes() -> None:
    assert parse("- snow + dog") == [Term("text", "snow", -1.0), Term("text", "dog", 1.0)]
    assert parse('"red bicycle"') == [Term("text", '"red bicycle"', 1.0)]  # a phrase, for caption search


def test_existing_image_path_becomes_image_term(tmp_path: Path) -> None:
    img = tmp_path / "x.jpg"
    img.write_bytes(b"whatever")
    terms = parse(f"{img} - 0.5:snow")
    assert terms == [Term("image", str(img), 1.0), Term("text", "snow", -0.5)]


def test_quoted_file_name_with_spaces_is_an_image(tmp_path: Path) -> None:
    img = tmp_path / "my photo.jpg"
    img.write_bytes(b"x")
    assert parse(f'"{img}" + 2:sea') == [Term("image", str(img), 1.0), Term("text", "sea", 2.0)]


def test_plain_word_that_looks_like_a_file_name_is_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse("photo.jpg") == [Term("text", "photo.jpg", 1.0)]


@pytest.mark.parametrize("bad", ["", "   ", "beach +", "- snow", "2:", "./missing/pic.jpg"])
def test_bad_queries_raise_query_error(bad: str) -> None:
    with pytest.raises(QueryError):
        parse(bad)
