"""Search results checked against an independent computation with the reference processor + model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import QueryError
from tests.conftest import make_photos
from tests.helpers import reference


@pytest.fixture
def library(engine: Engine, tmp_path: Path) -> list[Path]:
    paths = make_photos(tmp_path / "pics" / "a", 10) + make_photos(tmp_path / "pics" / "b", 10, start=10)
    engine.index([str(tmp_path / "pics")])
    return paths


def test_text_search_matches_reference_scores_and_order(engine: Engine, library: list[Path]) -> None:
    img, txt = reference(engine.settings.clip_model, library, ["a dog on a beach"])
    expected = img @ txt[0]
    results = engine.search("a dog on a beach", top=20)
    assert len(results) == 20
    by_path = {Path(r.path): r.score for r in results}
    for path, score in zip(library, expected):
        assert by_path[path] == pytest.approx(float(score), abs=2e-3)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert Path(results[0].path) == library[int(np.argmax(expected))]


def test_weighted_query_is_the_normalised_weighted_sum(engine: Engine, library: list[Path]) -> None:
    img, txt = reference(engine.settings.clip_model, library, ["beach", "sunset", "people"])
    q = txt[0] + 2 * txt[1] - txt[2]
    q /= np.linalg.norm(q)
    expected = img @ q
    results = engine.search("beach + 2:sunset - people", top=5)
    want = [library[i] for i in np.argsort(-expected)[:5]]
    assert [Path(r.path) for r in results] == want
    assert results[0].score == pytest.approx(float(expected.max()), abs=2e-3)


def test_image_query_leaves_itself_out_and_matchesreference(engine: Engine, library: list[Path]) -> None:
    img, _ = reference(engine.settings.clip_model, library, ["x"])
    query = library[3]
    results = engine.similar(str(query), top=5)
    assert str(query) not in {r.path for r in results}
    expected = img @ img[3]
    expected[3] = -np.inf
    assert Path(results[0].path) == library[int(np.argmax(expected))]
    via_search = engine.search(str(query), top=5)
    assert [r.path for r in via_search] == [r.path for r in results]


def test_an_image_outside_the_library_can_be_the_query(engine: Engine, library: list[Path], tmp_path: Path) -> None:
    outside = make_photos(tmp_path / "elsewhere", 1, start=5)[0]  # same picture as library[5]
    results = engine.similar(str(outside), top=1)
    assert Path(results[0].path) == library[5] and results[0].score > 0.999


def test_in_folder_restricts_results(engine: Engine, library: list[Path], tmp_path: Path) -> None:
    results = engine.search("a cat", top=50, folder=str(tmp_path / "pics" / "b"))
    assert len(results) == 10
    assert all("/pics/b/" in r.path for r in results)


def test_top_limits_and_empty_library(engine: Engine, library: list[Path], settings: Settings) -> None:
    assert len(engine.search("x", top=3)) == 3
    with Engine(settings.with_(data_dir=settings.data_dir.parent / "empty")) as empty:
        assert empty.search("x") == []


def test_bad_queries(engine: Engine, library: list[Path]) -> None:
    with pytest.raises(QueryError):
        engine.search("  ")
    with pytest.raises(QueryError):
        engine.similar("/no/such/image.jpg")


def test_results_are_visible_while_another_engine_indexes(settings: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 6)
    with Engine(settings) as reader:
        assert reader.search("x") == []
        with Engine(settings) as writer:
            writer.index([str(tmp_path / "pics")])
        assert len(reader.search("x", top=10)) == 6  # picked up from the catalog without reopening
