"""GIT captions: faithful to the reference, batched, cached, searchable, fused with CLIP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import AutoModelForCausalLM, AutoProcessor

from clipgit.core.config import Settings
from clipgit.core.engine import Engine, SearchResult
from clipgit.core.errors import ModelUnavailable, QueryError
from clipgit.core.search.caption_ranking import fts_query, fuse
from clipgit.core.search.query import parse
from tests.conftest import cli_env, cli_path, make_photos, photo


def reference_captions(model_dir: str, paths: list[Path], max_new_tokens: int = 30) -> list[str]:
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    out = []
    with torch.no_grad():
        for p in paths:
            pixels = processor(images=Image.open(p).convert("RGB"), return_tensors="pt").pixel_values
            ids = model.generate(pixel_values=pixels, max_new_tokens=max_new_tokens)
            out.append(" ".join(processor.batch_decode(ids, skip_special_tokens=True)[0].split()))
    return out


def test_captions_equal_the_reference_generate_in_fp32(engine: Engine, tmp_path: Path) -> None:
    paths = make_photos(tmp_path / "loose", 5)  # PNG, not in the library
    ours = engine.caption([str(p) for p in paths])
    assert [c.caption for c in ours] == reference_captions(engine.settings.caption_model, paths)
    assert len({c.caption for c in ours}) > 1  # the tiny model does tell images apart


def test_batching_gives_the_same_captions_as_one_at_a_time(settings: Settings, tmp_path: Path) -> None:
    paths = [str(p) for p in make_photos(tmp_path / "loose", 6)]
    with Engine(settings.with_(caption_batch_size=6)) as batched:
        together = [c.caption for c in batched.caption(paths)]
    with Engine(settings.with_(caption_batch_size=1)) as single:
        apart = [c.caption for c in single.caption(paths)]
    assert together == apart


def test_max_tokens_and_beams_change_decoding(engine: Engine, tmp_path: Path) -> None:
    path = make_photos(tmp_path / "loose", 1)[0]
    short = engine.caption([str(path)], max_tokens=3)[0].caption
    assert short == reference_captions(engine.settings.caption_model, [path], max_new_tokens=3)[0]
    assert len(engine.caption([str(path)], beams=2)[0].caption or "") > 0


def test_cache_hit_change_and_move(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pics = tmp_path / "pics"
    paths = make_photos(pics, 6)
    engine.index([str(pics)])
    events = list(engine.caption_library_iter())
    assert events[-1].done == 6 and engine.status().captions == 6
    first = engine.caption([str(paths[0])])[0]
    assert first.cached

    calls: list[int] = []
    real = engine.captioner.caption

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(engine.captioner, "caption", counted)
    assert engine.caption([str(p) for p in paths])[0].cached and calls == []

    photo(500).save(paths[1])  # new content: its caption is stale
    os.utime(paths[1], ns=(5, 5))
    shutil.move(paths[2], pics / "moved.png")
    engine.index([str(pics)])
    assert engine.cached_caption(str(paths[1])) is None
    moved_caption = engine.cached_caption(str(pics / "moved.png"))
    assert moved_caption is not None  # the moved file kept its caption, no model call
    assert calls == []
    left = list(engine.caption_library_iter())
    assert left[-1].total == 1 and calls == [1]  # only the changed image is captioned again


def _set_captions(engine: Engine, captions: dict[Path, str]) -> None:
    cat = engine.catalog()
    with cat.transaction():
        for path, text in captions.items():
            row = cat.image_by_path(str(path))
            assert row is not None
            cat.set_caption(row.id, engine.settings.caption_model, text)


def test_caption_search_words_prefixes_phrases(engine: Engine, tmp_path: Path) -> None:
    paths = make_photos(tmp_path / "pics", 5)
    engine.index([str(tmp_path / "pics")])
    _set_captions(engine, {paths[0]: "a red bicycle leaning on a wall", paths[1]: "a red car in the snow",
                           paths[2]: "a bicycle race", paths[3]: "two dogs on a beach",
                           paths[4]: "a bicycle that is red"})
    def names(rs: list[SearchResult]) -> list[str]:
        return [Path(r.path).name for r in rs]

    both = engine.search("red bicycle", top=10, mode="caption")
    assert set(names(both[:2])) == {paths[0].name, paths[4].name}  # both words beat one word
    assert set(names(both)) == {paths[0].name, paths[1].name, paths[2].name, paths[4].name}
    assert all(r.mode == "caption" and r.caption for r in both)
    assert names(engine.search("bicyc*", mode="caption")) and all(
        "bicycle" in (r.caption or "") for r in engine.search("bicyc*", mode="caption"))
    phrase = engine.search('"red bicycle"', mode="caption")
    assert names(phrase) == [paths[0].name]
    assert paths[1].name not in names(engine.search("red - car", mode="caption"))
    with pytest.raises(QueryError):
        engine.search(str(paths[0]), mode="caption")
    # "a" and "on" are in nearly every caption: they find nothing in particular
    assert names(engine.search("a dog on the beach", mode="caption")) == [paths[3].name]


def test_hybrid_is_reciprocal_rank_fusion_of_clip_and_caption_ranks(engine: Engine, tmp_path: Path) -> None:
    paths = make_photos(tmp_path / "pics", 12)
    engine.index([str(tmp_path / "pics")])
    _set_captions(engine, {paths[5]: "a red bicycle", paths[9]: "a red bicycle on a red wall",
                           paths[2]: "a blue bicycle"})
    clip_rank = [r.image_id for r in engine.search("red bicycle", top=200, mode="clip")]
    caption_rank = [r.image_id for r in engine.search("red bicycle", top=200, mode="caption")]
    expected = fuse(clip_rank, caption_rank)
    hybrid = engine.search("red bicycle", top=12, mode="hybrid")
    assert [r.image_id for r in hybrid] == [i for i, _ in expected][:12]
    assert [r.score for r in hybrid] == pytest.approx([s for _, s in expected][:12])
    by_id = {r.image_id: r for r in hybrid}
    clip_scores = {r.image_id: r.score for r in engine.search("red bicycle", top=200, mode="clip")}
    assert all(by_id[i].clip_score == pytest.approx(clip_scores[i], abs=1e-6) for i in by_id)
    assert by_id[caption_rank[0]].caption_score is not None
    # auto stays clip while few images have captions (an uncaptioned image lost to unrelated captioned ones)...
    assert {r.mode for r in engine.search("red bicycle", top=12)} == {"clip"}
    # ...and is hybrid once (nearly) all have one
    _set_captions(engine, {p: "a photo" for p in paths if p not in (paths[5], paths[9], paths[2])})
    assert {r.mode for r in engine.search("red bicycle", top=12)} == {"hybrid"}


def test_auto_mode_is_clip_without_captions(engine: Engine, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 4)
    engine.index([str(tmp_path / "pics")])
    assert {r.mode for r in engine.search("a dog")} == {"clip"}


def test_fts_query_quotes_words_and_keeps_phrases_and_prefixes() -> None:
    assert fts_query(parse("red bicycle")) == '("red" OR "bicycle")'
    assert fts_query(parse('"red bicycle" + bike*')) == '("red bicycle" OR "bike"*)'
    assert fts_query(parse("dogs - snow")) == '("dogs") NOT ("snow")'
    # words every caption holds match nothing in particular, unless they are all there is
    assert fts_query(parse("a cat on the couch")) == '("cat" OR "couch")'
    assert fts_query(parse('"a cat" + the')) == '("a cat")' and fts_query(parse("the")) == '("the")'
    assert fts_query(parse("AND OR NEAR")) == '("or" OR "near")'  # quoted, never operators ("and" a stopword)


def test_missing_caption_model_says_how_to_fix_and_embedding_goes_on(settings: Settings, tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 3)
    with Engine(settings.with_(caption_model="microsoft/git-base-coco")) as engine, \
            pytest.raises(ModelUnavailable, match="--caption-model"):
        engine.caption([str(tmp_path / "pics" / "img_0000.png")])
    env = cli_env(settings)
    env["CLIPGIT_CAPTION_MODEL"] = "microsoft/git-base-coco"
    out = subprocess.run([cli_path(), "index", str(tmp_path / "pics"), "--captions", "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no captions" in out.stderr and "not downloaded" in out.stderr
    assert json.loads(out.stdout)["new"] == 3  # the embeddings were saved
    status = json.loads(subprocess.run([cli_path(), "status", "--json"], env=env, capture_output=True,
                                       text=True, timeout=60).stdout)
    assert status["images"] == 3 and status["captions"] == 0


def test_caption_command_json_and_bad_files(settings: Settings, tmp_path: Path) -> None:
    good = make_photos(tmp_path / "loose", 2)
    bad = tmp_path / "loose" / "bad.jpg"
    bad.write_bytes(b"not a picture")
    out = subprocess.run([cli_path(), "caption", *map(str, good), str(bad), "--json"], env=cli_env(settings),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1  # one file could not be captioned
    rows = json.loads(out.stdout)
    assert [r["path"] for r in rows] == [str(good[0]), str(good[1]), str(bad)]
    assert rows[0]["caption"] == reference_captions(settings.caption_model, [good[0]])[0]
    assert rows[2]["caption"] is None and "not an image" in rows[2]["error"]
    assert "bad.jpg" in out.stderr and "Traceback" not in out.stderr
