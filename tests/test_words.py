"""Words in pictures in the library, with the real bundled OCR models on a few small pictures drawn here: `index
--ocr` reads them (EXIF-turned), `text:` finds them first and never a picture without text (any case, accents
ignored, a word inside a longer token), the cache and a changed file read again, the `ocr` command and its
JSON, plain hybrid queries that match recognised text, and the service answering as in-process."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from clipgit.core.config import Settings
from clipgit.core.engine import Engine
from clipgit.core.ingest.ocr_jobs import OCR_MODEL
from clipgit.core.lab.photos import photo
from clipgit.core.search.searcher import SearchResult
from clipgit.core.service.client import ServiceClient
from tests.conftest import cli_env, cli_path

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def sign(path: Path, words: str, *, turned: bool = False) -> Path:
    """A picture with WORDS in large type; `turned`: stored on its side with EXIF orientation 6 (shown upright)."""
    font = ImageFont.truetype(str(FONT), 44) if FONT.exists() else ImageFont.load_default(size=44)
    canvas = Image.new("RGB", (520, 160), (240, 236, 220))
    ImageDraw.Draw(canvas).text((24, 50), words, font=font, fill=(20, 20, 20))
    exif = Image.Exif()
    if turned:
        canvas = canvas.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back clockwise
        exif[0x112] = 6
    canvas.save(path, "JPEG", quality=92, exif=exif.tobytes())
    return path


@pytest.fixture
def words_library(engine: Engine, tmp_path: Path) -> Path:
    pics = tmp_path / "pics"
    pics.mkdir()
    sign(pics / "parcel.jpg", "PARCEL ZX48213")
    sign(pics / "cafe.jpg", "CAFÉ OPENDAILY")
    sign(pics / "turned.jpg", "HARBOUR", turned=True)
    photo(1, (96, 72)).save(pics / "plain.jpg")
    engine.index([str(pics)])
    events = list(engine.ocr_library_iter(root=str(pics)))
    assert events[-1].done == events[-1].total == 4
    return pics


def names(results: list[SearchResult]) -> list[str]:
    return [Path(r.path).name for r in results]


def test_text_filter_finds_words_any_case_accents_and_inside_tokens(engine: Engine, words_library: Path) -> None:
    assert names(engine.search("text:zx48213")) == ["parcel.jpg"]
    assert names(engine.search("text:48213")) == ["parcel.jpg"]  # inside a longer token
    assert names(engine.search("text:cafe")) == ["cafe.jpg"]  # accents ignored
    assert names(engine.search("text:Café")) == ["cafe.jpg"]
    assert names(engine.search("text:daily")) == ["cafe.jpg"]  # OCR ran the words together
    assert names(engine.search('text:"parcel zx"')) == ["parcel.jpg"]
    assert names(engine.search("text:harbour")) == ["turned.jpg"]  # read upright after the EXIF turn
    assert names(engine.search("text:nothing-like-this")) == []
    assert "plain.jpg" not in names(engine.search("text:a"))
    hits = engine.search("text:parcel")
    assert hits[0].mode == "browse" and "ZX48213" in (hits[0].text or "")
    assert hits[0].as_dict()["text"] == hits[0].text
    # a plain query in hybrid mode also ranks by the recognised text
    hybrid = engine.search("zx48213", mode="hybrid")
    assert names(hybrid)[0] == "parcel.jpg" and hybrid[0].as_dict()["text_score"] is not None  # why it ranks
    assert all(r.as_dict()["text_score"] is None for r in hybrid[1:])
    assert engine.catalog().text_count(OCR_MODEL, with_text=True) == 3


def test_cache_and_a_changed_file_is_read_again(engine: Engine, words_library: Path) -> None:
    assert list(engine.ocr_library_iter(root=str(words_library)))[-1].total == 0  # nothing left to read
    cached = engine.ocr([str(words_library / "parcel.jpg")])[0]
    assert cached.cached and "ZX48213" in (cached.text or "")
    sign(words_library / "parcel.jpg", "TICKET 7781")
    engine.index([str(words_library)])
    assert engine.search("text:zx48213") == []  # the changed file lost its text
    assert list(engine.ocr_library_iter(root=str(words_library)))[-1].total == 1
    assert names(engine.search("text:ticket")) == ["parcel.jpg"]


def test_a_forgotten_file_named_again_has_its_text_read(engine: Engine, tmp_path: Path) -> None:
    """`index FILE --ocr` of a file forgotten before brings it back and reads that file (its text job is asked
    for the file, not its folder), and only it."""
    pics = tmp_path / "pics"
    pics.mkdir()
    one = sign(pics / "ticket.jpg", "TICKET 7781")
    engine.index([str(pics)])
    engine.forget(str(one))
    sign(pics / "ticket.jpg.jpg", "OTHER 5512")  # a name the file's own is a prefix of: not the same file
    engine.index([str(one)])
    events = list(engine.ocr_library_iter(root=str(one)))
    assert events[-1].done == events[-1].total == 1
    assert names(engine.search("text:ticket")) == ["ticket.jpg"] and engine.search("text:other") == []
    other = pics / "ticket.jpg.jpg"  # a file of the library, never forgotten: indexed with its folder
    assert engine.index([str(other)]).unchanged == 2
    assert list(engine.ocr_library_iter(root=str(other)))[-1].done == 1
    assert names(engine.search("text:other")) == ["ticket.jpg.jpg"]


def test_index_with_ocr_and_the_ocr_command(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    sign(pics / "parcel.jpg", "PARCEL ZX48213")
    photo(2, (96, 72)).save(pics / "plain.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    env = cli_env(settings)
    done = subprocess.run([cli_path(), "index", str(pics), "--ocr", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["read"] == 2 and done.stderr == ""
    found = subprocess.run([cli_path(), "search", "--text", "zx482", "--json"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert [Path(r["path"]).name for r in json.loads(found.stdout)] == ["parcel.jpg"]
    out = subprocess.run([cli_path(), "ocr", str(pics / "parcel.jpg"), str(tmp_path / "broken.jpg"),
                          str(pics / "plain.jpg"), "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1  # one file could not be read: said on stderr in one line, the others answered
    answer = json.loads(out.stdout)
    assert [Path(a["path"]).name for a in answer] == ["parcel.jpg", "broken.jpg", "plain.jpg"]
    assert "ZX48213" in answer[0]["text"] and answer[0]["lines"][0].keys() == {"text", "box", "confidence"}
    assert answer[1]["text"] is None and answer[1]["error"] and answer[2]["text"] == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "broken.jpg" in out.stderr
    with Engine(settings) as engine:
        status = engine.status().as_dict()
    assert status["texts_read"] == 2 and status["with_text"] == 1 and status["places"] == 0


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
def test_the_service_answers_as_in_process(settings: Settings, tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    sign(pics / "parcel.jpg", "PARCEL ZX48213")
    env = cli_env(settings)
    env["CLIPGIT_SERVICE"] = "1"
    try:
        done = subprocess.run([cli_path(), "index", str(pics), "--ocr", "--json"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and json.loads(done.stdout)["read"] == 1, done.stderr
        for args in (["ocr", str(pics / "parcel.jpg"), "--json"], ["search", "text:zx48213", "--json"]):
            warm = subprocess.run([cli_path(), *args], env=env, capture_output=True, text=True, timeout=60)
            cold = subprocess.run([cli_path(), *args, "--no-service"], env=env, capture_output=True, text=True,
                                  timeout=60)
            restarted = "clipgit was updated since the running service started"  # others edit the code meanwhile
            warm_err = "".join(line for line in warm.stderr.splitlines(True) if restarted not in line)
            assert (warm.returncode, warm.stdout, warm_err) == (cold.returncode, cold.stdout, cold.stderr), args
            assert "ZX48213" in warm.stdout
    finally:
        ServiceClient(Settings(data_dir=settings.data_dir, clip_model=settings.clip_model,
                               caption_model=settings.caption_model, device="cpu", precision="fp32")).stop()


async def test_the_app_reads_the_library_and_the_detail_pane_shows_text_and_place(settings: Settings,
                                                                                   tmp_path: Path) -> None:
    from textual.widgets import Input, Static

    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.panes.detail import DetailPane
    from tests.helpers import LISBON, gps_photo, plain, results, wait_for

    pics = tmp_path / "pics"
    pics.mkdir()
    sign(pics / "parcel.jpg", "PARCEL ZX48213")
    gps_photo(pics / "lisbon.jpg", 2, LISBON)
    with Engine(settings.with_(ocr=True)) as engine:
        engine.index([str(pics)])  # embedded, not read: the open app reads the text in the background
        app = ClipGitApp(engine)
        async with app.run_test(size=(140, 45)) as pilot:
            try:
                await wait_for(pilot, lambda: engine.catalog().text_count(OCR_MODEL) == 2 and not app.texts.running,
                               timeout=60)
            except AssertionError:
                raise AssertionError(f"{app.notices} {app.texts.running} {app.texts.unavailable} {app.model_state} "
                                     f"{engine.catalog().text_count(OCR_MODEL)} {app.text_status}") from None
            await pilot.press(*"text:zx482", "enter")
            await wait_for(pilot, lambda: len(results(app)) == 1)
            assert 'text: "zx482" in the pictures' in plain(app.query_one("#results-info", Static))
            detail = app.query_one(DetailPane)
            await wait_for(pilot, lambda: detail.result is not None and detail.result.text is not None)
            assert "ZX48213" in plain(app.query_one("#meta", Static))
            detail.focus()
            await pilot.press("y")
            assert app.notices[-1][0] == "Path and text copied"
            await pilot.press("slash")
            app.query_one("#query", Input).value = ""
            await pilot.press(*"place:lisbon", "enter")
            await wait_for(pilot, lambda: [Path(p).name for p in results(app)] == ["lisbon.jpg"])
            await wait_for(pilot, lambda: "Portugal" in plain(app.query_one("#meta", Static)))
            await pilot.press("q")


def test_text_jobs_one_at_a_time_and_a_paused_one_lets_another_by(engine: Engine, tmp_path: Path) -> None:
    """Two text jobs on one library (the app's and a command's): the second waits, then finds the pictures
    read, rather than reading each again. A paused job lets go: a command is not held up by it, and the
    paused job, resumed, skips what was read meanwhile."""
    import threading

    pics = tmp_path / "pics"
    pics.mkdir()
    for i, word in enumerate(("ALPHA", "BRAVO", "CHARLIE")):
        sign(pics / f"{i}.jpg", f"{word} {i}")
    engine.index([str(pics)])
    first = engine.ocr_library_iter(root=str(pics))
    assert next(first).total == 3  # running: holds the library's text lock
    second: list[Any] = []
    waiter = threading.Thread(target=lambda: second.extend(engine.ocr_library_iter(root=str(pics))))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive() and second and second[0].phase == "waiting" and "reading text" in second[0].note
    assert list(first)[-1].done == 3
    waiter.join(60)
    assert not waiter.is_alive() and second[-1].total == 0  # nothing left: read once
    for i, word in enumerate(("DELTA", "ECHO"), start=3):
        sign(pics / f"{i}.jpg", f"{word} {i}")
    engine.index([str(pics)])
    pause, paused = threading.Event(), list[Any]()
    pause.set()
    held = threading.Thread(target=lambda: paused.extend(engine.ocr_library_iter(pause=pause, root=str(pics))))
    held.start()
    command: list[Any] = []
    other = threading.Thread(target=lambda: command.extend(engine.ocr_library_iter(root=str(pics))))
    other.start()
    other.join(60)
    assert not other.is_alive() and command[-1].done == command[-1].total == 2  # not held up by the paused job
    pause.clear()
    held.join(60)
    assert not held.is_alive() and paused[-1].phase == "reading"
    assert names(engine.search("text:delta")) == ["3.jpg"] and names(engine.search("text:echo")) == ["4.jpg"]
