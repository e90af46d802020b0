"""A forgotten part of a library folder stays forgotten through rescans, until the user indexes it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipgit.core.engine import Engine
from clipgit.core.errors import ClipgitError
from clipgit.core.store.catalog import Catalog
from tests.conftest import make_photos


def test_a_forgotten_sub_folder_stays_out_of_rescans(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics / "keep", 3)
    make_photos(pics / "old", 2, start=10)
    engine.index([str(pics)])
    with pytest.raises(ClipgitError, match="not in the library"):
        engine.forget(str(pics / "odl"))  # a typo: nothing there, nothing kept out
    assert engine.forget(str(pics / "old")) == 2 and engine.status().images == 3
    assert engine.folders()[0].forgotten == (str(pics / "old"),)  # status lists it, with how to undo it
    again = engine.index([str(pics)])  # what the app does when it opens and when files change
    assert again.new == 0 and again.removed == 0 and engine.status().images == 3
    make_photos(pics / "old", 1, start=20)  # a file added there later stays out too
    assert engine.index([str(pics)]).new == 0

    (pics / "old" / "deeper").mkdir()
    with pytest.raises(ClipgitError, match=r"inside .*old, which was forgotten: index .*old to bring it back"):
        engine.index([str(pics / "old" / "deeper")])  # its folder's rescans would drop it again
    back = engine.index([str(pics / "old")])  # named again: it is back, and later rescans keep it
    assert back.new == 3 and engine.status().images == 6 and engine.folders()[0].forgotten == ()
    assert engine.index([str(pics)]).removed == 0 and engine.status().images == 6


def test_a_forgotten_file_stays_out_until_it_is_indexed_again(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    paths = make_photos(pics, 3)
    engine.index([str(pics)])
    assert engine.forget(str(paths[0])) == 1
    assert engine.index([str(pics)]).new == 0 and engine.status().images == 2
    assert engine.index([str(paths[0])]).new == 1 and engine.status().images == 3  # its folder is walked


def test_a_forgotten_path_survives_its_folder_being_folded_into_a_parent(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics" / "a", 2)
    make_photos(tmp_path / "pics" / "a" / "junk", 2, start=10)
    engine.index([str(tmp_path / "pics" / "a")])
    engine.forget(str(tmp_path / "pics" / "a" / "junk"))
    engine.index([str(tmp_path / "pics")])  # the parent takes the folder in, and what was forgotten in it
    assert engine.status().images == 2
    cat = Catalog(engine.settings.db_path)
    try:
        assert cat.excluded() == [str(tmp_path / "pics" / "a" / "junk")]
    finally:
        cat.close()
    assert engine.forget(str(tmp_path / "pics")) == 2  # forgetting the library folder forgets what it kept out
    cat = Catalog(engine.settings.db_path)
    try:
        assert cat.excluded() == []
    finally:
        cat.close()
