"""Finding and loading Hugging Face models: hub id or local dir, offline-aware.

Why the checks before `from_pretrained`: without a network a hub id retries
for ~24 s and then fails with a long traceback. We look in the local cache
first, and if the model is neither there nor reachable we raise
`ModelUnavailable` at once with the fix in the message. Weights load only
from safetensors and never run code from the model directory.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Protocol
from urllib.parse import urlparse

from clipgit.core.errors import ModelUnavailable


def quiet_transformers() -> None:
    """No tqdm bars or warnings from the libraries: the faces show our own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        pass


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or os.sep + os.sep in model or model.count("/") > 1


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def locate(model: str, flag: str) -> tuple[str, bool]:
    """Return (what to pass to from_pretrained, local_files_only) or raise ModelUnavailable."""
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        if not os.path.isfile(os.path.join(expanded, "config.json")):
            raise ModelUnavailable(f"{model} is a folder but holds no model (no config.json)")
        return expanded, True
    if _looks_like_path(model):
        raise ModelUnavailable(f"model directory {model} does not exist; pass an existing folder to {flag}")
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # an id the hub library rejects
        raise ModelUnavailable(f"{model!r} is neither a model folder nor a Hugging Face model id") from None
    if isinstance(cached, str):
        return model, True
    fix = (f"connect to the internet once to download it, or pass a local model folder with {flag} DIR; to try "
           f"clipgit offline now: clipgit-tui demo (or {flag} demo)")
    if _offline():
        raise ModelUnavailable(f"model {model} is not downloaded and HF_HUB_OFFLINE is set: {fix}")
    if not _hub_reachable():
        raise ModelUnavailable(f"model {model} is not downloaded and huggingface.co cannot be reached: {fix}")
    return model, False


class Pretrained(Protocol):
    """A transformers class that loads from a folder or a hub id (models, processors, tokenizers)."""

    def from_pretrained(self, source: Any, /, *args: Any, **kwargs: Any) -> Any: ...


def load(factory: Pretrained, model: str, flag: str, **kwargs: Any) -> Any:
    """`factory.from_pretrained(...)` with our safety rules and errors."""
    source, local_only = locate(model, flag)
    try:
        return factory.from_pretrained(source, local_files_only=local_only, **kwargs)
    except ModelUnavailable:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"cannot load model {model}: {first}") from None


def resolve_device(setting: str) -> str:
    import torch

    if setting != "auto":
        if setting == "cuda" and not torch.cuda.is_available():
            raise ModelUnavailable("device cuda was asked for but torch sees no CUDA GPU (use --device cpu)")
        if setting == "mps" and not torch.backends.mps.is_available():
            raise ModelUnavailable("device mps was asked for but is not available here (use --device cpu)")
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_has_bf16() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(setting: str, device: str) -> Any:
    """fp16 on GPUs; bf16 on a CPU that supports it (about 2x fp32 here); else fp32."""
    import torch

    if setting == "fp32":
        return torch.float32
    if setting == "fp16":
        return torch.float16
    if setting == "bf16":
        return torch.bfloat16
    if device in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def dtype_name(dtype: Any) -> str:
    return {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(str(dtype), str(dtype))
