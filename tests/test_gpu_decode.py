"""The GPU decode path, checked here on CPU tensors: torch resize/crop/normalise, EXIF orientation, fallbacks.

nvJPEG itself needs a CUDA machine (benchmarks/ingest.py --device cuda checks its vectors against the CPU
path's); everything around it is the same code on a CPU tensor, with Pillow standing in for the decoder.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from transformers import CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

import clipgit.core.decode.gpu_decode as gpu
from clipgit.core.config import Settings
from clipgit.core.decode.image import Preprocess
from clipgit.core.decode.jpeg_header import RawJpeg, raw_jpeg
from clipgit.core.decode.torch_preprocess import preprocess_batch
from clipgit.core.engine import Engine
from tests.conftest import photo, unit_features
from tests.helpers import as_nvjpeg


def jpeg(img: Image.Image, *, orientation: int = 1, **save: Any) -> bytes:
    buf = io.BytesIO()
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif.tobytes()
    img.save(buf, format="JPEG", **{"quality": 90, **save})
    return buf.getvalue()


def test_orientation_matches_pillows_exif_transpose() -> None:
    img = photo(3, (40, 24))
    for orientation in range(1, 9):
        data = jpeg(img, orientation=orientation, quality=100, subsampling=0)
        raw = raw_jpeg(data, 10**9)
        assert raw is not None and raw.orientation == orientation
        tensor = as_nvjpeg([raw], "cpu")[0]
        ours = gpu.orient(tensor, raw.orientation).permute(1, 2, 0).numpy()
        ref = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
        assert ours.shape == ref.shape and np.array_equal(ours, ref), orientation


def test_what_the_gpu_is_not_given() -> None:
    img = photo(1, (64, 48))
    assert raw_jpeg(jpeg(img), 10**9) is not None
    assert raw_jpeg(jpeg(img.convert("L")), 10**9) is not None  # grayscale: nvJPEG converts to RGB
    assert raw_jpeg(jpeg(img.convert("CMYK")), 10**9) is None  # CMYK: the CPU path
    assert raw_jpeg(jpeg(img)[:-200], 10**9) is None  # truncated: the CPU path says why
    png = io.BytesIO()
    img.save(png, format="PNG")
    assert raw_jpeg(png.getvalue(), 10**9) is None
    assert raw_jpeg(jpeg(img), 1000) is None  # over max pixels: the CPU path refuses it with its reason


@pytest.mark.slow
def test_gpu_path_cosine_to_the_reference_processor(full_model: CLIPModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "decode_jpegs", as_nvjpeg)
    cases = {
        "baseline 640x480": jpeg(photo(1, (80, 60)).resize((640, 480), Image.Resampling.BICUBIC)),
        "progressive 1920x1080": jpeg(photo(2, (240, 135)).resize((1920, 1080), Image.Resampling.BICUBIC),
                                      progressive=True),
        "EXIF-rotated (6) 1600x1200": jpeg(photo(3, (200, 150)).resize((1600, 1200), Image.Resampling.BICUBIC),
                                           orientation=6),
        "EXIF-rotated (3) 800x1000": jpeg(photo(4, (80, 100)).resize((800, 1000), Image.Resampling.BICUBIC),
                                          orientation=3),
        "grayscale 1024x768": jpeg(photo(5, (128, 96)).resize((1024, 768), Image.Resampling.BICUBIC).convert("L")),
        "12 MP 4000x3000": jpeg(photo(6, (500, 375)).resize((4000, 3000), Image.Resampling.BICUBIC)),
        "small 150x100": jpeg(photo(7, (150, 100))),
    }
    reference = CLIPImageProcessorPil()
    pp = dataclasses.replace(Preprocess.from_image_processor(reference), raw_jpeg=True)
    raws = [raw for data in cases.values() if (raw := raw_jpeg(data, 10**9)) is not None]
    assert len(raws) == len(cases)
    ours, errors = gpu.model_input(raws, pp, "cpu", 10**9)
    assert errors == [None] * len(cases)
    for (name, data), row in zip(cases.items(), ours):
        upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        ref = reference(images=upright, return_tensors="pt").pixel_values
        cos = float((unit_features(full_model, ref) * unit_features(full_model, row[None])).sum())
        assert cos >= 0.999, f"{name}: cosine {cos:.5f}"


def test_index_through_the_gpu_path_with_fallbacks(settings: Settings, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 'CUDA' device (the decoder stood in for), every good image is embedded, whichever path took it."""
    folder = tmp_path / "pics"
    folder.mkdir()
    base = photo(9, (96, 72))
    files = {
        "plain.jpg": jpeg(base),
        "rotated.jpg": jpeg(photo(10, (96, 72)), orientation=8),
        "cmyk.jpg": jpeg(photo(11, (96, 72)).convert("CMYK")),
        "refused.jpg": jpeg(photo(12, (80, 80))),
        "gray.jpg": jpeg(photo(13, (64, 96)).convert("L")),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    photo(14, (90, 60)).save(folder / "drawing.png")
    good = jpeg(photo(15, (96, 72)))  # a header Pillow reads and scan data nobody can decode
    (folder / "broken.jpg").write_bytes(good[:400] + b"\x00" * 2000 + b"\xff\xd9")

    def decoder(raws: list[RawJpeg], device: str) -> list[Any]:
        return [None if len(r.data) == len(files["refused.jpg"]) else t for r, t in zip(raws, as_nvjpeg(raws, device))]

    monkeypatch.setattr(gpu, "gpu_decode_available", lambda device: True)
    monkeypatch.setattr(gpu, "decode_jpegs", decoder)
    with Engine(settings) as engine:
        report = engine.index([str(folder)])
        assert engine.clip.load().raw_jpeg
        served = {Path(p).name: v for p, v in _vectors(engine).items()}
    assert report.embedded == 6 and [Path(p).name for p, _ in report.skipped] == ["broken.jpg"]
    assert "corrupt" in report.skipped[0][1]

    monkeypatch.setattr(gpu, "gpu_decode_available", lambda device: False)
    cpu_settings = dataclasses.replace(settings, data_dir=tmp_path / "cpu-data")
    with Engine(cpu_settings) as engine:
        engine.index([str(folder)])
        assert not engine.clip.load().raw_jpeg
        reference = {Path(p).name: v for p, v in _vectors(engine).items()}
    assert served.keys() == reference.keys()
    for name in served:
        assert float(served[name] @ reference[name]) >= 0.99, name


def _vectors(engine: Engine) -> dict[str, np.ndarray]:
    from clipgit.core.store.vectors import from_blob

    rows = engine.catalog().conn.execute(
        "SELECT i.path, e.vector FROM images i JOIN embeddings e ON e.image_id = i.id").fetchall()
    return {os.fsdecode(path): from_blob(blob) for path, blob in rows}


def test_captions_through_the_gpu_path(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 'CUDA' device captions take JPEG bytes to the card too; a file nobody can decode gets its reason."""
    from clipgit.core.models.git_captioner import GitCaptioner

    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "plain.jpg").write_bytes(jpeg(photo(20, (96, 72))))
    (folder / "rotated.jpg").write_bytes(jpeg(photo(21, (96, 72)), orientation=6))
    refused = jpeg(photo(24, (80, 80)))  # the card refuses it: Pillow decodes it instead
    (folder / "refused.jpg").write_bytes(refused)
    photo(22, (90, 60)).save(folder / "drawing.png")
    good = jpeg(photo(23, (96, 72)))
    (folder / "broken.jpg").write_bytes(good[:400] + b"\x00" * 2000 + b"\xff\xd9")
    given: list[str] = []
    real = GitCaptioner.caption

    def spy(self: GitCaptioner, images: Any, *args: Any) -> Any:
        given.extend(type(image).__name__ for image in images)
        return real(self, images, *args)

    monkeypatch.setattr(gpu, "gpu_decode_available", lambda device: True)
    monkeypatch.setattr(gpu, "decode_jpegs", lambda raws, device: [
        None if len(r.data) == len(refused) else t for r, t in zip(raws, as_nvjpeg(raws, device))])
    monkeypatch.setattr(GitCaptioner, "caption", spy)
    with Engine(settings) as engine:
        out = {Path(c.path).name: c for c in engine.caption(sorted(str(p) for p in folder.iterdir()))}
    assert sorted(given) == ["RawJpeg", "RawJpeg", "RawJpeg", "ndarray"]  # the PNG comes preprocessed
    for name in ("plain.jpg", "rotated.jpg", "refused.jpg", "drawing.png"):
        assert isinstance(out[name].caption, str) and out[name].error is None, name
    assert out["broken.jpg"].caption is None and out["broken.jpg"].error


def test_nvimgcodec_backend_settings() -> None:
    """The hardware engines' share of a batch, the CUDA decoder for the rest, adaptive shares, and a setting
    it cannot read named in one line (the env var is a user's knob)."""
    assert gpu.parse_backends("hw:0.65,cuda") == [("HW_GPU_ONLY", 0.65), ("GPU_ONLY", None)]
    assert gpu.parse_backends(gpu.DEFAULT_BACKENDS)[0][0] == "HW_GPU_ONLY"
    assert gpu.parse_backends(" hw:adaptive , hybrid ") == [("HW_GPU_ONLY", -1.0), ("HYBRID_CPU_GPU", None)]
    for bad, words in (("gpu", "unknown decoder 'gpu'"), ("hw:1.5", "not in (0, 1]"),
                       ("cuda:half", "share half of cuda"), ("", "no decoder")):
        with pytest.raises(ValueError, match=re.escape(words)):
            gpu.parse_backends(bad)


@pytest.mark.parametrize("size", [(480, 640), (3000, 4000), (900, 50), (100, 80), (224, 224), (7, 5)])
def test_matrix_resize_is_torchs_antialiased_bicubic(size: tuple[int, int]) -> None:
    """The resize as two matrix products gives what torch's interpolate(antialias=True) gives, crop and black
    padding included, within one 8-bit level: landscape, portrait, 12 MP, upscaled, exact size, tiny."""
    import torch.nn.functional as F

    h, w = size
    image = torch.from_numpy(np.random.default_rng(h * w).integers(0, 256, (3, h, w), dtype=np.uint8))
    pp = Preprocess()
    got = preprocess_batch([image, image], pp)
    short, long = min(h, w), max(h, w)
    nh, nw = (224, int(224 * long / short)) if w >= h else (int(224 * long / short), 224)
    ref = F.interpolate(image[None].float(), size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
    top, left = (nh - 224) // 2, (nw - 224) // 2
    padded = F.pad(ref.round().clamp(0, 255), (max(0, -left), max(0, -left), max(0, -top), max(0, -top)))
    ref = padded[:, :, max(0, top):max(0, top) + 224, max(0, left):max(0, left) + 224]
    mean, std = torch.tensor(pp.mean).view(1, 3, 1, 1), torch.tensor(pp.std).view(1, 3, 1, 1)
    levels = ((got * std + mean) * 255 - ref).abs()
    assert got.shape == (2, 3, 224, 224) and float(levels.max()) < 1.01
    assert float((levels > 0.5).float().mean()) < 0.01  # almost every pixel on the same level


def test_a_batch_of_mixed_sizes_keeps_each_picture_in_its_place() -> None:
    """Sizes that come and go (a group of one size is not one run of the batch) and a run of one size: each
    row is what the picture gives alone."""
    rng = np.random.default_rng(7)
    big, small = ((3, 300, 400), (3, 120, 90))
    images = [torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in (big, small, big, big, small)]
    pp = Preprocess()
    together = preprocess_batch(images, pp)
    for i, image in enumerate(images):
        assert torch.equal(together[i], preprocess_batch([image], pp)[0]), i


def test_bilinear_models_resize_with_pils_bilinear_filter() -> None:
    """A processor that asks for bilinear (SigLIP's) gets PIL's bilinear filter on the card too."""
    from PIL import Image as PILImage

    rgb = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    pp = Preprocess(center_crop=False, resample=PILImage.Resampling.BILINEAR, mean=(0.0, 0.0, 0.0),
                    std=(1.0, 1.0, 1.0))
    got = preprocess_batch([torch.from_numpy(rgb).permute(2, 0, 1)], pp)[0] * 255
    ref = np.asarray(PILImage.fromarray(rgb).resize((224, 224), PILImage.Resampling.BILINEAR), dtype=np.float32)
    assert float(np.abs(got.permute(1, 2, 0).numpy() - ref).max()) <= 1.01


def test_batches_for_the_card_hold_a_budget_of_pixels(settings: Settings, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of JPEGs for the card is full at batch_size files or at the card's pixel budget, whichever
    comes first: small pictures many to a batch, big photos fewer (decoded, they fill the card's memory)."""
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(6):
        (folder / f"big{i}.jpg").write_bytes(jpeg(photo(30 + i, (200, 150))))
        (folder / f"small{i}.jpg").write_bytes(jpeg(photo(40 + i, (40, 30))))
    sizes: list[list[int]] = []

    def decoder(raws: list[RawJpeg], device: str) -> list[Any]:
        sizes.append([r.width * r.height for r in raws])
        return as_nvjpeg(raws, device)

    monkeypatch.setattr(gpu, "gpu_decode_available", lambda device: True)
    monkeypatch.setattr(gpu, "decode_jpegs", decoder)
    monkeypatch.setattr(Engine, "_card_pixels", lambda self: 2 * 200 * 150)  # two big photos a batch
    with Engine(dataclasses.replace(settings, batch_size=8, decode_workers=1)) as engine:
        assert engine.index([str(folder)]).embedded == 12
    assert sum(len(s) for s in sizes) == 12
    assert all(sum(s[:-1]) < 2 * 200 * 150 for s in sizes), sizes  # the last one filled it
    assert max(len(s) for s in sizes) > 2  # small ones many to a batch
