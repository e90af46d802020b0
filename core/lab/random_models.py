"""Random-weight CLIP and GIT model directories, built offline in seconds.

Why this lives in core: tests, benchmarks and the offline demo all need real
model directories (config, safetensors, processor and tokenizer files) that
load through the same `from_pretrained` code path as the hub models, and no
weights can be downloaded here. Random weights give arbitrary but
deterministic results; full-size configs cost exactly what the real models do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WORDS = ["a", "an", "the", "of", "on", "in", "at", "with", "and", "or", "to", "by", "for", "from", "is", "are", "photo", "picture", "image", "dog", "dogs", "cat", "cats", "bird", "horse", "cow", "sheep", "beach", "sea", "sunset", "sunrise", "sky", "cloud", "mountain", "snow", "tree", "forest", "flower", "grass", "city", "street", "car", "bus", "bicycle", "bike", "train", "boat", "plane", "person", "people", "man", "woman", "child", "kids", "family", "baby", "group", "red", "green", "blue", "yellow", "purple", "orange", "white", "black", "brown", "gray", "pink", "circle", "square", "triangle", "star", "shape", "small", "large", "big", "little", "old", "new", "sitting", "standing", "running", "walking", "playing", "eating", "looking", "riding", "holding", "table", "chair", "room", "house", "kitchen", "food", "pizza", "cake", "plate", "cup", "water", "river", "lake", "road", "field", "park", "garden", "night", "day", "light", "dark", "close", "view", "two", "three", "many", "some", "one", "this", "that", "it", "its", "near", "next", "over", "under", "front", "back", "top", "side"]


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's (GPT-2's) reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _clip_merges(words: list[str]) -> list[tuple[str, str]]:
    """Merges that build every word whole (with its `</w>`), left to right."""
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for word in words:
        pieces = [*word[:-1], word[-1] + "</w>"]
        left = pieces[0]
        for right in pieces[1:]:
            pair = (left, right)
            if pair not in seen:
                seen.add(pair)
                merges.append(pair)
            left = left + right
    return merges


def write_clip_tokenizer_files(directory: Path) -> tuple[int, int, int]:
    """Write CLIP-layout vocab.json/merges.txt; return (vocab size, bos id, eos id)."""
    chars = list(_bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges = _clip_merges(sorted(set(WORDS)))
    for left, right in merges:
        merged = left + right
        if merged not in vocab_list:
            vocab_list.append(merged)
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(vocab), vocab["<|startoftext|>"], vocab["<|endoftext|>"]


def build_clip(directory: Path, *, tiny: bool = True, image_size: int | None = None, seed: int = 0) -> Path:
    """Save a random CLIP model + CLIPProcessor to `directory`.

    tiny=False gives `CLIPConfig()` defaults (ViT-B/32, 512-d), the real model's cost.
    """
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    directory = Path(directory)
    tok_dir = directory / "_tok"
    vocab_size, bos, eos = write_clip_tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77)
    if tiny:
        size = image_size or 32
        text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, max_position_embeddings=77)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=size, patch_size=8)
        config = CLIPConfig(text_config=dict(text, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos),
                            vision_config=vision, projection_dim=16)
    else:
        size = image_size or 224
        config = CLIPConfig(text_config=dict(bos_token_id=bos, eos_token_id=eos, pad_token_id=eos))
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return _save(directory, model, processor, tok_dir)


MULTILINGUAL = ["un", "una", "el", "la", "en", "perro", "gato", "playa", "rojo", "der", "die", "am", "hund", "katze",
                "strand", "une", "le", "sur", "chien", "chat", "plage", "rouge", "犬", "猫", "海", "赤"]


def build_siglip(directory: Path, *, tiny: bool = True, image_size: int | None = None, seed: int = 0) -> Path:
    """Save a random SigLIP (the architecture of SigLIP 2's fixed-resolution checkpoints) with a multilingual
    word-level vocabulary (the `tokenizers` library: no sentencepiece), and SigLIP's image processor."""
    import torch
    from transformers import SiglipConfig, SiglipModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    directory = Path(directory)
    length = 16 if tiny else 64
    tokenizer, vocab_size = _multilingual_tokenizer(length)
    ids = dict(pad_token_id=0, bos_token_id=2, eos_token_id=2)
    if tiny:
        size = image_size or 32
        text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, max_position_embeddings=length, **ids)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=size, patch_size=8)
    else:
        size = image_size or 224
        text = dict(vocab_size=max(vocab_size, 32_000), max_position_embeddings=length, **ids)
        vision = dict(image_size=size, patch_size=16)
    torch.manual_seed(seed)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    SiglipImageProcessorPil(size={"height": size, "width": size}).save_pretrained(directory)
    return directory


def build_siglip2_naflex(directory: Path, *, seed: int = 0, patch: int = 8, max_patches: int = 64) -> Path:
    """Save a tiny random SigLIP 2 NaFlex model (pictures keep their aspect ratio, in at most `max_patches`
    patches) with the multilingual word-level vocabulary, and its image processor."""
    import torch
    from transformers import Siglip2Config, Siglip2Model
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    directory = Path(directory)
    tokenizer, vocab_size = _multilingual_tokenizer(16)
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=16, pad_token_id=0, bos_token_id=2, eos_token_id=2)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  patch_size=patch, num_patches=max_patches)
    torch.manual_seed(seed)
    model = Siglip2Model(Siglip2Config(text_config=text, vision_config=vision)).eval()
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    Siglip2ImageProcessorPil(patch_size=patch, max_num_patches=max_patches).save_pretrained(directory)
    return directory


def _multilingual_tokenizer(length: int) -> tuple[Any, int]:
    """A word-level tokenizer (the `tokenizers` library: no sentencepiece) knowing the test words in several
    languages; and its vocabulary size."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "</s>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(WORDS) | set(MULTILINGUAL)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        eos_token="</s>", model_max_length=length)
    return tokenizer, len(vocab)


def _save(directory: Path, model: Any, processor: Any, tok_dir: Path) -> Path:
    """save_pretrained both (safetensors), and drop the scratch tokenizer files."""
    model.save_pretrained(directory, safe_serialization=True)
    processor.save_pretrained(directory)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return directory


def write_bert_vocab(directory: Path, size: int = 0) -> list[str]:
    """A BERT-style vocab.txt: specials, words, characters and ## characters (padded to `size`)."""
    import string

    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += sorted(set(WORDS)) + [c for c in chars] + ["##" + c for c in string.ascii_lowercase + string.digits]
    seen: list[str] = []
    for t in tokens:
        if t not in seen:
            seen.append(t)
    seen += [f"[unused{i}]" for i in range(max(0, size - len(seen)))]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(seen) + "\n", encoding="utf-8")
    return seen


def build_git(directory: Path, *, tiny: bool = True, image_size: int | None = None, seed: int = 0) -> Path:
    """Save a random GIT model + GitProcessor to `directory` (tiny=False: git-base sizes)."""
    import torch
    from transformers import BertTokenizer, GitConfig, GitForCausalLM, GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    directory = Path(directory)
    tok_dir = directory / "_tok"
    vocab = write_bert_vocab(tok_dir, 0 if tiny else 30522)  # full size: git-base's vocabulary size
    tokenizer = BertTokenizer.from_pretrained(tok_dir, model_max_length=512)
    cls_id, sep_id, pad_id = vocab.index("[CLS]"), vocab.index("[SEP]"), vocab.index("[PAD]")
    if tiny:
        size = image_size or 32
        # wider initial weights than the default 0.02: with those, a tiny random GIT writes the same
        # caption whatever the image, and tests could not tell images apart
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=size, patch_size=8, initializer_range=0.5)
        config = GitConfig(vision_config=vision, vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
                           bos_token_id=cls_id, eos_token_id=sep_id, pad_token_id=pad_id, initializer_range=0.2)
    else:
        size = image_size or 224
        config = GitConfig(vocab_size=len(vocab), bos_token_id=cls_id, eos_token_id=sep_id, pad_token_id=pad_id)
    torch.manual_seed(seed)
    model = GitForCausalLM(config).eval()
    model.generation_config.bos_token_id = cls_id
    model.generation_config.eos_token_id = sep_id
    model.generation_config.pad_token_id = pad_id
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = GitProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return _save(directory, model, processor, tok_dir)
