"""Sixel bytes that draw the right colours in xterm, from a full 256-register palette.

Why our own wrapper around textual-image's encoder: textual-image 0.12 defines
a colour register (`#n;2;r;g;b`) the first time it uses it and draws at once,
but a definition does not select the register in xterm (nor in the VT340 it
emulates), so each colour's first band was drawn in whatever colour was
current: wrong-coloured bands. Here each definition is followed by `#n`.
And its fast-octree quantiser kept about 65 colours of a photo's 171; a
median-cut palette of 256 with Floyd-Steinberg dithering keeps gradients smooth.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image
from textual_image import _sixel as encoder

REGISTERS = 256
_DEFINE = re.compile(rb"#(\d+);2;\d+;\d+;\d+")
BackgroundColor = tuple[int, int, int, float]


def quantize(image: Image.Image, background: BackgroundColor) -> Image.Image:
    """Paletted, at most 256 colours: median cut for the palette, error diffusion for the pixels."""
    if encoder._has_transparency(image):
        image = encoder._composite_on_background(image, background)
    rgb = image.convert("RGB")
    if rgb.getcolors(REGISTERS) is not None:  # few colours (a drawing, a gradient): each its own register
        # mapped here: Pillow's palette lookup works at reduced precision and merges near colours
        pixels = np.asarray(rgb).reshape(-1, 3)
        colours, index = np.unique(pixels, axis=0, return_inverse=True)
        exact = Image.fromarray(index.reshape(rgb.height, rgb.width).astype(np.uint8), "P")
        exact.putpalette(colours.astype(np.uint8).ravel().tolist())
        return exact
    palette = rgb.quantize(REGISTERS, method=Image.Quantize.MEDIANCUT)
    return rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)


def image_to_sixels(image: Image.Image, background: BackgroundColor = (0, 0, 0, 1.0)) -> str:
    """The DCS sixel string for `image`, every register selected right after it is defined."""
    paletted = quantize(image, background)
    data, registers = encoder._compact_palette_np(paletted, paletted.tobytes())
    selected = tuple(_define_and_select(r) for r in registers)
    bands = encoder._iter_bands_np(data, paletted.width, paletted.height, selected)
    return (encoder._make_header(paletted.width, paletted.height) + b"".join(bands) + encoder._ST).decode("ascii")


def _define_and_select(definition: bytes) -> bytes:
    match = _DEFINE.fullmatch(definition)
    assert match is not None, definition
    return definition + b"#" + match.group(1)
