"""CLIP-family models beyond CLIP: SigLIP, SigLIP 2 (fixed-resolution and NaFlex), multilingual queries."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from clipgit.core.config import Settings
from clipgit.core.decode.image import Preprocess, decode
from clipgit.core.engine import Engine
from clipgit.core.errors import ModelUnavailable
from clipgit.core.lab.random_models import build_siglip
from tests.conftest import make_photos, photo


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_siglip(tmp_path_factory.mktemp("models") / "tiny-siglip", tiny=True)


def test_a_siglip_library_indexes_and_answers_queries_in_other_languages(settings: Settings, tiny_siglip: Path,
                                                                         tmp_path: Path) -> None:
    make_photos(tmp_path / "pics", 6, ext="jpg", size=(120, 80))
    s = dataclasses.replace(settings, clip_model=str(tiny_siglip))
    with Engine(s) as engine:
        assert engine.index([str(tmp_path / "pics")]).embedded == 6
        assert engine.clip.family == "siglip" and not engine.clip.load().center_crop
        for query in ("un perro en la playa", "der hund am strand", "chien sur la plage", "犬 海"):
            assert engine.clip.unknown_tokens(query) == 0, query  # every word is known: none collapses to <unk>
            assert len(engine.search(query, top=3)) == 3
        assert engine.clip.unknown_tokens("ᚠᚢᚦ") == 1  # runes, which it has no word for, are told
        spanish, chinese, english = engine.clip.encode_texts(["un perro en la playa", "犬 海", "a dog on a beach"])
        assert float(spanish @ chinese) < 0.999 and float(spanish @ english) < 0.999
        # text is padded to the full length, as SigLIP was trained: the same words give the same vector
        # whatever else is in the batch
        alone = engine.clip.encode_texts(["un perro"])[0]
        batched = engine.clip.encode_texts(["un perro", "un perro en la playa con un gato rojo"])[0]
        assert np.allclose(alone, batched, atol=1e-5)


def test_a_model_that_is_not_a_dual_encoder_is_refused_with_the_reason(settings: Settings) -> None:
    s = dataclasses.replace(settings, clip_model=settings.caption_model)  # a GIT captioner
    with Engine(s) as engine, pytest.raises(ModelUnavailable, match="takes CLIP, SigLIP and SigLIP 2"):
        engine.load_model()


def unit_rows(out: np.ndarray) -> np.ndarray:
    unit: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return unit


def jpeg_photo(seed: int, size: tuple[int, int]) -> bytes:
    """A smooth photo-like JPEG of `size` (drawn small, enlarged: seconds, not minutes, at 12 MP)."""
    buf = io.BytesIO()
    photo(seed, (size[0] // 8, size[1] // 8)).resize(size, Image.Resampling.BICUBIC).save(buf, format="JPEG",
                                                                                           quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("size", [(4000, 3000), (3000, 4000), (1920, 1080), (640, 480)])
def test_siglip_fast_paths_cosine_to_its_processor(size: tuple[int, int]) -> None:
    """SigLIP squashes the picture to 224 x 224 (no crop) and normalises to [-1, 1]: both our CPU path (draft
    decode) and the torch path (as on the GPU) stay at cosine >= 0.999 to its own processor."""
    from transformers import SiglipVisionConfig, SiglipVisionModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    from clipgit.core.decode.torch_preprocess import preprocess_batch

    torch.manual_seed(0)
    model = SiglipVisionModel(SiglipVisionConfig()).eval()

    def features(pixels: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return unit_rows(model(pixel_values=pixels).pooler_output.numpy())

    data = jpeg_photo(42, size)
    reference = SiglipImageProcessorPil()
    ref = features(reference(images=Image.open(io.BytesIO(data)).convert("RGB"), return_tensors="pt").pixel_values)
    pp = Preprocess.from_image_processor(reference)
    assert not pp.center_crop and (pp.crop_width, pp.crop_height) == (224, 224)
    img, _, _ = decode(data, draft_size=pp.draft_size)
    cpu = features(torch.from_numpy(pp(img)[None]))
    full = torch.from_numpy(np.array(Image.open(io.BytesIO(data)).convert("RGB"))).permute(2, 0, 1)
    gpu = features(preprocess_batch([full], pp))
    for name, ours in (("CPU path", cpu), ("torch path", gpu)):
        cos = float((ref * ours).sum())
        assert cos >= 0.999, f"{name}: cosine {cos:.5f} at {size}"


@pytest.mark.parametrize("size", [(4000, 3000), (1200, 300), (1920, 1080), (480, 640)])
def test_siglip2_naflex_fast_path_cosine_to_its_processor(size: tuple[int, int]) -> None:
    """NaFlex keeps the picture's aspect ratio in at most 256 patches of 16: our CPU path (draft decode, our
    own patching) stays at cosine >= 0.999 to its processor, with a full-size random vision tower."""
    from transformers import Siglip2VisionConfig, Siglip2VisionModel
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    from clipgit.core.decode.naflex import naflex_unpack

    torch.manual_seed(0)
    model = Siglip2VisionModel(Siglip2VisionConfig()).eval()

    def features(pixels: torch.Tensor, mask: torch.Tensor, shapes: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return unit_rows(model(pixel_values=pixels, pixel_attention_mask=mask,
                                   spatial_shapes=shapes).pooler_output.numpy())

    data = jpeg_photo(43, size)
    reference = Siglip2ImageProcessorPil()
    ref_in = reference(images=Image.open(io.BytesIO(data)).convert("RGB"), return_tensors="pt")
    ref = features(ref_in["pixel_values"], ref_in["pixel_attention_mask"], ref_in["spatial_shapes"])
    pp = Preprocess.from_image_processor(reference)
    assert (pp.patch, pp.max_patches) == (16, 256)
    img, _, _ = decode(data, draft_size=pp.draft_size)
    pixels, mask, shapes = naflex_unpack(torch.from_numpy(pp(img)[None]))
    assert shapes.tolist() == ref_in["spatial_shapes"].tolist()
    cos = float((ref * features(pixels, mask, shapes)).sum())
    assert cos >= 0.999, f"cosine {cos:.5f} at {size}"


def test_a_siglip2_naflex_library_indexes_and_answers(settings: Settings, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """NaFlex pictures take the CPU path even where JPEGs could decode on a GPU (the card's path squashes)."""
    import clipgit.core.decode.gpu_decode as gpu
    from clipgit.core.lab.random_models import build_siglip2_naflex

    monkeypatch.setattr(gpu, "gpu_decode_available", lambda device: True)

    naflex = build_siglip2_naflex(tmp_path / "naflex")
    make_photos(tmp_path / "pics", 3, ext="jpg", size=(160, 90))
    make_photos(tmp_path / "pics", 2, start=3, ext="png", size=(60, 200))
    with Engine(dataclasses.replace(settings, clip_model=str(naflex))) as engine:
        assert engine.index([str(tmp_path / "pics")]).embedded == 5
        assert engine.clip.family == "siglip2" and engine.clip.load().max_patches == 64
        assert not engine.clip.load().raw_jpeg
        found = engine.search("un perro en la playa", top=5)
        assert len(found) == 5 and {r.model for r in found} == {str(naflex)}
        assert engine.similar(found[0].path, top=2)[0].path != found[0].path


def test_models_lists_recommendations_with_figures_and_needs_no_torch(settings: Settings, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import cli_env, cli_path

    env = cli_env(settings)
    make_photos(tmp_path / "pics", 3)
    subprocess.run([cli_path(), "index", str(tmp_path / "pics"), "-q"], env=env, check=True, capture_output=True)
    code = ("import sys; from clipgit.tui.cli import main; rc = main(['models', '--json']); "
            "print('torch' in sys.modules, rc, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stderr.strip() == "False 0"
    rows = json.loads(out.stdout)
    ids = [r["id"] for r in rows]
    assert ids[:3] == ["openai/clip-vit-base-patch32", "google/siglip2-base-patch32-256",
                       "google/siglip2-base-patch16-224"]
    assert all(r["retrieval"] and r["images_per_s"] > 0 and r["download_mb"] > 0 for r in rows[:3])
    assert rows[-1] == {"id": settings.clip_model, "in_use": True, "vectors_in_library": 3}  # the tiny test model
    text = subprocess.run([cli_path(), "models"], env=env, capture_output=True, text=True)
    assert text.returncode == 0 and "google/siglip2-base-patch16-224" in text.stdout and "Immich" in text.stdout


async def test_the_app_embeds_a_library_for_a_newly_chosen_model_and_keeps_the_old_vectors(
        settings: Settings, tiny_siglip: Path, tmp_path: Path) -> None:
    from textual.widgets import Static

    from clipgit.core.store.catalog import Catalog
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.messages import SearchDone
    from tests.helpers import wait_for

    make_photos(tmp_path / "pics", 5)
    with Engine(settings) as clip_engine:
        clip_engine.index([str(tmp_path / "pics")])
    switched = dataclasses.replace(settings, clip_model=str(tiny_siglip))
    with Engine(switched) as engine:
        app = ClipGitApp(engine, show_images=False)
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, lambda: app.images == 5 and not app.library.indexing, timeout=60)
            assert any("no vectors for this model" in message for _, message in app.notices)
            found = engine.search("a photo", top=5)
            assert {r.model for r in found} == {str(tiny_siglip)}  # caught up: the new model answers
            # results from the previous model's vectors (as during the catch-up) say which model answered
            app.current_query = "a photo"
            older = [dataclasses.replace(r, model=settings.clip_model) for r in found]
            await app.on_search_done(SearchDone("a photo", older, 0.01, ""))
            info = str(app.query_one("#results-info", Static).render())
            assert f"answered by {os.path.basename(settings.clip_model)} until tiny-siglip" in info
    cat = Catalog(settings.db_path)
    try:
        assert cat.vector_counts() == {settings.clip_model: 5, str(tiny_siglip): 5}
    finally:
        cat.close()
