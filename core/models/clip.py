"""CLIP encoder: batches of preprocessed images or texts -> L2-normalised float32 vectors.

Loaded lazily on first use. The model only ever runs on the inference thread;
on a GPU, `device_input` (JPEG decode and resize on the card) runs on a thread
of its own, so the next batch decodes while the model embeds this one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from clipgit.core.decode.image import Preprocess
from clipgit.core.decode.jpeg_header import RawJpeg
from clipgit.core.errors import ModelUnavailable
from clipgit.core.models.hub import dtype_name, load, quiet_transformers, resolve_device, resolve_dtype

DeviceBatch = tuple[Any, list["str | None"]]  # the model's input on its device, and per item None or why not decoded
FAMILIES = ("clip", "siglip", "siglip2")  # dual encoders whose image and text features share one space


class ClipEncoder:
    def __init__(self, model_id: str, device: str = "auto", precision: str = "auto", gpu_decode: bool = True) -> None:
        self.model_id = model_id
        self._gpu_decode = gpu_decode
        self._device_setting = device
        self._precision_setting = precision
        self._model: Any = None
        self._tokenizer: Any = None
        self._preprocess: Preprocess | None = None
        self.device = "not loaded"
        self.precision = "not loaded"
        self.dim = 0
        self.family = ""  # clip | siglip, once loaded
        self._lock = threading.Lock()
        self._side_stream: Any = None  # the CUDA stream device_input runs on

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Preprocess:
        """Load tokenizer, image settings and weights; return the preprocessing to feed it."""
        with self._lock:
            if self._model is not None:
                assert self._preprocess is not None
                return self._preprocess
            quiet_transformers()
            import torch
            from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

            flag = "--clip-model"
            family = load(AutoConfig, self.model_id, flag).model_type
            if family not in FAMILIES:
                raise ModelUnavailable(f"{self.model_id} is a {family!r} model; --clip-model takes CLIP, SigLIP "
                                       f"and SigLIP 2 (fixed-resolution and NaFlex) dual encoders")
            tokenizer = load(AutoTokenizer, self.model_id, flag)
            image_processor = load(AutoImageProcessor, self.model_id, flag, backend="pil")
            device = resolve_device(self._device_setting)
            dtype = resolve_dtype(self._precision_setting, device)
            model = load(AutoModel, self.model_id, flag, use_safetensors=True, dtype=dtype)
            model = model.to(device).eval()
            positions = int(model.config.text_config.max_position_embeddings)
            if not tokenizer.model_max_length or tokenizer.model_max_length > positions:
                tokenizer.model_max_length = positions
            self.family = family
            self._preprocess = Preprocess.from_image_processor(image_processor)
            if self._gpu_decode:  # the decode pool then hands JPEG bytes to encode_items
                from clipgit.core.decode.gpu_decode import on_card

                self._preprocess = on_card(self._preprocess, device)
            self._tokenizer = tokenizer
            self.device, self.precision = device, dtype_name(dtype)
            self.dim = int(getattr(model.config, "projection_dim", 0) or model.config.vision_config.hidden_size)
            self._dtype = dtype
            self._torch = torch
            self._model = model
            return self._preprocess

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 from `Preprocess` -> (B, dim) unit vectors."""
        self.load()
        torch = self._torch
        with torch.inference_mode():
            batch = torch.from_numpy(pixels)
            if self.device.startswith("cuda"):  # pinned pages copy without a staging buffer, asynchronously
                batch = batch.pin_memory().to(self.device, non_blocking=True)
            return self._image_features(batch.to(self.device))

    def encode_items(self, items: Sequence[np.ndarray | RawJpeg],
                     max_pixels: int = 120_000_000) -> tuple[np.ndarray, list[str | None]]:
        """Preprocessed pixels and undecoded JPEGs (decoded on the GPU) -> (B, dim) unit vectors, and per item
        None or why it could not be decoded (its row is then meaningless). Both stages on this thread."""
        self.load()
        if all(isinstance(item, np.ndarray) for item in items):
            return self.encode_pixels(np.stack(items)), [None] * len(items)  # type: ignore[arg-type]
        return self.embed_input(self.device_input(items, max_pixels))

    def device_input(self, items: Sequence[np.ndarray | RawJpeg], max_pixels: int = 120_000_000) -> DeviceBatch:
        """Stage one: the batch decoded and preprocessed on the model's device, in the model's dtype.

        On CUDA it runs on a side stream and waits for it, so the tensor is ready when the inference thread
        takes it: nvJPEG's CPU half and the resize then overlap the model's work on the batch before.
        """
        pp = self.load()
        from clipgit.core.decode.gpu_decode import model_input

        torch = self._torch
        with torch.inference_mode():
            if not self.device.startswith("cuda"):
                batch, errors = model_input(items, pp, self.device, max_pixels)
                return batch.to(dtype=self._dtype), errors
            if self._side_stream is None:
                self._side_stream = torch.cuda.Stream(device=self.device)
            with torch.cuda.stream(self._side_stream):
                batch, errors = model_input(items, pp, self.device, max_pixels)
                batch = batch.to(dtype=self._dtype)
            self._side_stream.synchronize()
            return batch, errors

    def embed_input(self, prepared: DeviceBatch) -> tuple[np.ndarray, list[str | None]]:
        """Stage two, on the inference thread: the model on a batch `device_input` prepared."""
        batch, errors = prepared
        torch = self._torch
        with torch.inference_mode():
            if batch.is_cuda:  # made on the side stream: keep its memory until this stream is done with it
                batch.record_stream(torch.cuda.current_stream())
            return self._image_features(batch), errors

    def _image_features(self, batch: Any) -> np.ndarray:
        """A batch on the model's device -> unit vectors. NaFlex batches (see images.naflex_pack) are unpacked
        before the cast to the model's dtype: bf16 holds whole numbers exactly only up to 256, and the patch
        grid's sides can be larger."""
        if self._preprocess is not None and self._preprocess.max_patches:
            from clipgit.core.decode.naflex import naflex_unpack

            patches, mask, shapes = naflex_unpack(batch)
            out = self._model.get_image_features(pixel_values=patches.to(dtype=self._dtype),
                                                 pixel_attention_mask=mask, spatial_shapes=shapes)
        else:
            out = self._model.get_image_features(pixel_values=batch.to(dtype=self._dtype))
        return _unit(_pooled(out).float().cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.load()
        torch = self._torch
        if self.family in ("siglip", "siglip2"):  # as it was trained: padded to full length, no attention mask
            enc = self._tokenizer(list(texts), padding="max_length", truncation=True, return_tensors="pt")
            enc = {"input_ids": enc["input_ids"]}
        else:
            enc = self._tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            enc = {k: v.to(self.device) for k, v in enc.items()}
            out = self._model.get_text_features(**enc)
            return _unit(_pooled(out).float().cpu().numpy())

    def unknown_tokens(self, text: str) -> int:
        """How many pieces of `text` the model's vocabulary lacks (each read as <unk>). A query in a language
        or script the model has no words for collapses to <unk>s and matches nothing in particular: a face
        can say so rather than show arbitrary results, and a model's languages can be checked."""
        self.load()
        unknown = self._tokenizer.unk_token_id
        return 0 if unknown is None else sum(i == unknown for i in self._tokenizer(text)["input_ids"])


def _pooled(out: Any) -> Any:
    """transformers 5 returns an output object; older versions a tensor."""
    return getattr(out, "pooler_output", out)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit
