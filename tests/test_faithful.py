"""The fast decode path (JPEG draft + own resize) stays faithful to the reference processor.

Full-size random ViT-B/32 on real-size photos: what users index.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from clipgit.core.decode.image import Preprocess, decode
from tests.conftest import photo, unit_features


@pytest.mark.slow
@pytest.mark.parametrize("size", [(4000, 3000), (3000, 4000), (1920, 1080), (640, 480)])
def test_fast_path_cosine_to_reference(full_model: CLIPModel, tmp_path: Path, size: tuple[int, int]) -> None:
    big = photo(42, (size[0] // 8, size[1] // 8)).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=90)
    data = buf.getvalue()

    reference = CLIPImageProcessorPil()
    ref_pixels = reference(images=Image.open(io.BytesIO(data)).convert("RGB"), return_tensors="pt").pixel_values

    preprocess = Preprocess.from_image_processor(reference)
    img, _, _ = decode(data, draft_size=preprocess.draft_size)
    ours = torch.from_numpy(preprocess(img)[None])

    cos = float((unit_features(full_model, ref_pixels) * unit_features(full_model, ours)).sum())
    assert cos >= 0.999, f"cosine {cos:.5f} at {size}"
