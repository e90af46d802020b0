"""Big JPEGs go where they will be done sooner; small ones always to the card."""

from __future__ import annotations

from clipgit.core.decode_split import HYBRID_MIN_PIXELS, DecodeSplit

PHOTO = 4000 * 3000


def shares(split: DecodeSplit, n: int, pixels: int) -> float:
    return sum(not split.to_gpu(pixels) for _ in range(n)) / n


def test_small_pictures_always_go_to_the_card() -> None:
    split = DecodeSplit(16)
    assert shares(split, 1000, 640 * 480) == 0
    assert HYBRID_MIN_PIXELS > 640 * 480


def test_photos_are_shared_by_the_expected_rates() -> None:
    many, few = DecodeSplit(16), DecodeSplit(2)
    on_cores = shares(many, 256, PHOTO)
    assert 0.25 < on_cores < 0.55  # the card (5 GP/s) and 16 cores (5 ns a pixel each): about 60 / 40
    assert shares(few, 256, PHOTO) < on_cores / 3  # two cores take far fewer
    assert DecodeSplit(16).to_gpu(PHOTO)  # an idle card takes the first


def test_measurements_move_the_split() -> None:
    slow_card, fast_card = DecodeSplit(16), DecodeSplit(16)
    for split, seconds in ((slow_card, 1.0), (fast_card, 0.001)):
        split.to_gpu(PHOTO)
        split._last_done -= seconds  # the card took this long for a photo
        split.gpu_done(PHOTO)
    assert shares(slow_card, 100, PHOTO) > shares(fast_card, 100, PHOTO)
    cheap_cores = DecodeSplit(16)
    for _ in range(10):
        cheap_cores._cpu_running += 1
        cheap_cores.cpu_done(PHOTO, 0.001)  # decodes far faster than assumed
    assert shares(cheap_cores, 100, PHOTO) > shares(DecodeSplit(16), 100, PHOTO)


def test_processes_never_get_a_refusal() -> None:
    split = DecodeSplit(16)
    assert not split.backlog()
    assert all(split.to_gpu(PHOTO, may_decline=False) for _ in range(300))
    assert split.backlog()  # 300 photos waiting (0.7 s): the workers decode the next big ones
