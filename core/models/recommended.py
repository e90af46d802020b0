"""The models we recommend, what they cost and how well they find, for `clipgit-tui models`.

Why published figures beside our own: retrieval quality cannot be measured
without the real weights (this project's machines cannot download them), so
the quality column is Immich's published comparison (average of Recall@1/5/10
on Crossmodal-3600, English; docs/docs/features/searching.md in
immich-app/immich). Speed and size are ours: `benchmarks/models.py` measures
full-size architectures with random weights (which cost exactly what the real
ones do) and writes core/models/model_figures.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIGURES = Path(__file__).with_name("model_figures.json")
IMMICH = "Immich, Crossmodal-3600 (English), mean of Recall@1/5/10"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    family: str  # clip | siglip
    architecture: str  # the name the published comparison uses
    languages: str
    retrieval: float | None  # published figure (see IMMICH)
    note: str = ""


RECOMMENDED = [
    ModelInfo("openai/clip-vit-base-patch32", "clip", "ViT-B-32 (OpenAI)", "English", 59.4,
              "the default: OpenAI's original CLIP (ViT-B/32), English only; fastest on a CPU"),
    ModelInfo("google/siglip2-base-patch32-256", "siglip", "ViT-B-32-SigLIP2-256", "multilingual", 73.2,
              "best on a CPU: far better answers at nearly the default's speed"),
    ModelInfo("google/siglip2-base-patch16-224", "siglip", "ViT-B-16-SigLIP2", "multilingual", 75.2,
              "best for a GPU: the best of these answers"),
]


def measured() -> dict[str, dict[str, float | str]]:
    """Figures from benchmarks/models.py, by model id (empty where the benchmark has not run)."""
    try:
        data = json.loads(FIGURES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
