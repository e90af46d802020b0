"""Indexing through the engine: change detection, moves, deletions, hostile files."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.errors import ClipgitError
from tests.conftest import make_photos, photo


def _seqs(engine: Engine) -> dict[str, int]:
    rows = engine.catalog().conn.execute(
        "SELECT i.path, e.seq FROM images i JOIN embeddings e ON e.image_id = i.id").fetchall()
    return {os.fsdecode(p): s for p, s in rows}


def test_first_index_then_rescan_costs_nothing(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 12)
    first = engine.index([str(tmp_path / "pics")])
    assert (first.new, first.unchanged, first.embedded, first.skipped) == (12, 0, 12, [])
    before = _seqs(engine)
    again = engine.index([str(tmp_path / "pics")])
    counts = (again.new, again.changed, again.moved, again.removed, again.unchanged, again.embedded)
    assert counts == (0, 0, 0, 0, 12, 0)
    assert _seqs(engine) == before


def test_changed_moved_and_deleted_files(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    paths = make_photos(pics, 10)
    engine.index([str(pics)])
    before = _seqs(engine)
    photo(999).save(paths[0])  # new content, same name
    os.utime(paths[0], ns=(1, 1))
    (pics / "sub").mkdir()
    moved_to = pics / "sub" / "renamed.png"
    shutil.move(paths[1], moved_to)
    paths[2].unlink()
    touched = paths[3]
    os.utime(touched, ns=(2, 2))  # same bytes, new mtime
    report = engine.index([str(pics)])
    assert (report.new, report.changed, report.moved, report.removed, report.embedded) == (0, 1, 1, 1, 1)
    assert report.unchanged == 7
    after = _seqs(engine)
    assert after[str(moved_to)] == before[str(paths[1])]  # the moved file kept its vector
    assert after[str(paths[0])] != before[str(paths[0])]  # the changed file was re-embedded
    assert after[str(touched)] == before[str(touched)]
    assert str(paths[2]) not in after
    found = {r.path for r in engine.search("anything", top=100)}
    assert str(paths[2]) not in found and str(moved_to) in found and len(found) == 9


def test_hidden_files_and_junk_folders_are_left_out(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics, 2)
    make_photos(pics / ".git", 1)
    make_photos(pics / "node_modules", 1)
    make_photos(pics / "@eaDir", 1)
    photo(5).save(pics / ".hidden.png")
    photo(6).save(pics / "._IMG_0001.png")
    (pics / "notes.txt").write_text("not an image")
    report = engine.index([str(pics)])
    assert report.new == 2 and report.skipped == []


def test_hostile_files_are_skipped_with_reasons_and_valid_ones_indexed(engine: Engine, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    make_photos(pics, 3)
    (pics / "zero.jpg").write_bytes(b"")
    good = (pics / "img_0000.png").read_bytes()
    (pics / "truncated.png").write_bytes(good[: len(good) // 2])
    (pics / "text.jpg").write_text("hello")
    photo(7).save(pics / "really_png.jpg", format="PNG")  # mislabelled but valid: indexed
    Image.new("1", (20000, 20000)).save(pics / "bomb.png")
    os.symlink(pics / "nowhere.png", pics / "dangling.png")
    os.symlink(pics / "loop_b.png", pics / "loop_a.png")
    os.symlink(pics / "loop_a.png", pics / "loop_b.png")
    os.symlink(pics, pics / "self_link")  # a folder link loop
    (pics / "folder.jpg").mkdir()
    photo(8).save(pics / "folder.jpg" / "inside.png")
    weird = os.fsdecode(b"bad_\xff\xfe_name.png")
    photo(9).save(os.path.join(str(pics), weird))
    photo(10).save(pics / "esc_\x1b[31mred.png")
    photo(11).save(pics / "[bold red]markup[link=x].png")
    report = engine.index([str(pics)])
    reasons = {os.path.basename(p): r for p, r in report.skipped}
    assert set(reasons) == {"zero.jpg", "truncated.png", "text.jpg", "bomb.png", "dangling.png", "loop_a.png",
                            "loop_b.png"}
    assert "empty" in reasons["zero.jpg"]
    assert "truncated" in reasons["truncated.png"] or "corrupt" in reasons["truncated.png"]
    assert "not an image" in reasons["text.jpg"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "broken symbolic link" in reasons["dangling.png"]
    assert "loop" in reasons["loop_a.png"]
    assert report.new == 3 + 1 + 1 + 3  # photos, mislabelled, inside folder.jpg, three odd names
    indexed = {r.path for r in engine.search("x", top=100)}
    assert os.path.join(str(pics), weird) in indexed
    assert str(pics / "esc_\x1b[31mred.png") in indexed
    # the reasons are kept in the catalog and reported again on a rescan without re-reading
    assert {os.path.basename(p) for p, _ in engine.skipped(str(pics))} >= {"zero.jpg", "bomb.png"}
    again = engine.index([str(pics)])
    assert {os.path.basename(p) for p, _ in again.skipped} == set(reasons) and again.embedded == 0


def test_missing_or_non_folder_paths_raise(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ClipgitError, match="not found"):
        engine.index([str(tmp_path / "nope")])
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(ClipgitError, match="not a folder"):
        engine.index([str(tmp_path / "f.png")])


def test_cancel_keeps_finished_batches_and_a_rerun_completes(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 40)
    cancel = threading.Event()
    seen = []
    for event in engine.index_iter([str(tmp_path / "pics")], cancel):
        seen.append(event)
        assert event.report is not None  # every event of an index run carries the run so far
        if event.phase == "embedding" and event.report.embedded >= 8:
            cancel.set()
    partial = seen[-1].report
    assert partial is not None
    assert partial.cancelled and 8 <= partial.embedded < 40
    rest = engine.index([str(tmp_path / "pics")])
    assert rest.embedded == 40 - partial.embedded and rest.removed == 0
    assert engine.status().images == 40


def test_nested_folders_and_forget(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics" / "a", 3)
    make_photos(tmp_path / "pics" / "b", 2, start=10)
    engine.index([str(tmp_path / "pics" / "a")])
    engine.index([str(tmp_path / "pics")])  # the parent absorbs the child folder
    folders = engine.folders()
    assert [f.path for f in folders] == [str(tmp_path / "pics")] and folders[0].images == 5
    assert engine.forget(str(tmp_path / "pics" / "b")) == 2
    assert engine.status().images == 3
    assert engine.forget(str(tmp_path / "pics")) == 3
    assert engine.status().images == 0 and engine.folders() == []
    with pytest.raises(ClipgitError, match="not in the library"):
        engine.forget(str(tmp_path / "elsewhere"))


def test_switching_models_keeps_vectors_apart(settings: Settings, tmp_path: Path) -> None:
    from clipgit.core.lab.random_models import build_clip

    other = build_clip(tmp_path / "other-clip", seed=1)
    make_photos(tmp_path / "pics", 4)
    with Engine(settings) as a:
        a.index([str(tmp_path / "pics")])
    with Engine(settings.with_(clip_model=str(other))) as b:
        assert b.status().images == 0
        report = b.index([str(tmp_path / "pics")])
        assert report.embedded == 4 and report.unchanged == 4 and report.new == 0
    with Engine(settings) as a:
        assert a.status().images == 4
        assert a.index([str(tmp_path / "pics")]).embedded == 0


def test_during_a_switch_the_previous_models_vectors_answer(settings: Settings, tmp_path: Path) -> None:
    """Until the new model has embedded as much of the library as the old one, the old one answers, and says so."""
    from clipgit.core.lab.random_models import build_clip

    other = build_clip(tmp_path / "other-clip", seed=1)
    make_photos(tmp_path / "pics", 4)
    make_photos(tmp_path / "more", 2, start=4)
    with Engine(settings) as a:
        a.index([str(tmp_path / "pics"), str(tmp_path / "more")])
    with Engine(settings.with_(clip_model=str(other))) as b:
        b.index([str(tmp_path / "pics")])  # 4 of 6: the switch is under way
        found = b.search("a photo", top=10)
        assert len(found) == 6 and {r.model for r in found} == {settings.clip_model}
        assert b.search("a photo", top=10)[0].as_dict()["model"] == settings.clip_model
        assert {r.model for r in b.similar(found[0].path, top=3)} == {settings.clip_model}
        import json
        import subprocess

        from tests.conftest import cli_env, cli_path

        env = cli_env(settings.with_(clip_model=str(other)))
        text = subprocess.run([cli_path(), "search", "a photo", "-n", "3"], env=env, capture_output=True, text=True)
        assert text.returncode == 0 and f"answered by {settings.clip_model}'s vectors until" in text.stderr
        out = subprocess.run([cli_path(), "search", "a photo", "--json"], env=env, capture_output=True, text=True)
        assert {r["model"] for r in json.loads(out.stdout)} == {settings.clip_model}
        b.index([str(tmp_path / "more")])  # caught up: the new model answers
        found = b.search("a photo", top=10)
        assert len(found) == 6 and {r.model for r in found} == {str(other)}


def test_an_empty_library_folder_keeps_its_images(engine: Engine, tmp_path: Path) -> None:
    """An unmounted drive leaves its mount point empty: a rescan must not take every photo for deleted."""
    drive = tmp_path / "drive"
    make_photos(drive / "2023", 3)
    engine.index([str(drive)])
    moved = tmp_path / "unplugged"
    drive.rename(moved)
    drive.mkdir()  # the mount point, with nothing in it
    report = engine.index([str(drive)])
    assert report.removed == 0 and engine.status().images == 3
    assert report.skipped == [(str(drive), report.skipped[0][1])] and "not mounted?" in report.skipped[0][1]
    assert engine.folders()[0].empty  # status and the library pane say so
    drive.rmdir()
    moved.rename(drive)  # plugged back in: nothing to embed again
    back = engine.index([str(drive)])
    assert back.unchanged == 3 and back.new == 0 and back.embedded == 0 and not engine.folders()[0].empty
    for path in (drive / "2023").iterdir():
        path.unlink()  # a folder emptied of its photos, but not of its folders: they are gone
    assert engine.index([str(drive)]).removed == 3 and engine.status().images == 0
