import numpy as np
import pytest

from tfav.data.layout import SUB_URMP_INSTRUMENTS
from tfav.data.synth.performer import (
    BOWED,
    INSTRUMENTS,
    Player,
    Scene,
    draw_performer,
    random_player,
    random_scene,
)


def _draw(instrument, pose, seed=0, size=64):
    rng = np.random.default_rng(seed)
    return draw_performer(instrument, pose, random_player(instrument, rng), random_scene(rng), size)


def _changed(a, b, threshold=40):
    """Fraction of pixels whose colour moved by more than ``threshold`` (sum over RGB)."""
    return float((np.abs(a.astype(int) - b.astype(int)).sum(-1) > threshold).mean())


def test_instrument_list_covers_sub_urmp_and_inis():
    assert set(SUB_URMP_INSTRUMENTS) <= set(INSTRUMENTS)
    assert {"drum", "piano", "guitar", "saxophone", "violin"} <= set(INSTRUMENTS)
    assert len(INSTRUMENTS) == len(set(INSTRUMENTS)) == 17


def test_random_player_and_scene_are_deterministic_and_vary():
    a = random_player("cello", np.random.default_rng(3))
    b = random_player("cello", np.random.default_rng(3))
    assert isinstance(a, Player) and a == b
    assert isinstance(random_scene(np.random.default_rng(3)), Scene)
    assert random_scene(np.random.default_rng(3)) == random_scene(np.random.default_rng(3))
    players = {random_player("cello", np.random.default_rng(s)) for s in range(8)}
    scenes = {random_scene(np.random.default_rng(s)) for s in range(8)}
    assert len(players) == 8 and len(scenes) == 8
    assert random_player("double_bass", np.random.default_rng(0)).standing
    assert not random_player("cello", np.random.default_rng(0)).standing


def test_draw_is_deterministic():
    a = _draw("violin", (0.3, 0.6, 0.2), seed=5)
    b = _draw("violin", (0.3, 0.6, 0.2), seed=5)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", [64, 128])
def test_every_instrument_drawable(size):
    for i, instrument in enumerate(INSTRUMENTS):
        img = _draw(instrument, (0.5, 0.5, 0.5), seed=i, size=size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        # Not a flat background: the performer and instrument are there.
        assert img.reshape(-1, 3).std(0).max() > 10, instrument


def test_pose_out_of_range_is_clipped_and_bad_input_rejected():
    np.testing.assert_array_equal(_draw("flute", (-1, 0.5, 2)), _draw("flute", (0, 0.5, 1)))
    with pytest.raises(ValueError, match="unknown instrument"):
        _draw("kazoo", (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="size"):
        _draw("flute", (0.5, 0.5, 0.5), size=3)


def test_hand_changes_a_small_part_of_the_image():
    for instrument in INSTRUMENTS:
        lo = _draw(instrument, (0.0, 0.5, 0.5))
        hi = _draw(instrument, (1.0, 0.5, 0.5))
        frac = _changed(lo, hi)
        # Visible (tens of pixels at 64x64) but local: the rest of the frame stays put.
        assert 0.004 < frac < 0.15, (instrument, frac)


def test_bow_moves_on_bowed_strings_only():
    for instrument in BOWED:
        frac = _changed(_draw(instrument, (0.5, 0.0, 0.5)), _draw(instrument, (0.5, 1.0, 0.5)))
        assert 0.01 < frac < 0.2, (instrument, frac)
    for instrument in ("flute", "trumpet", "tuba"):
        np.testing.assert_array_equal(
            _draw(instrument, (0.5, 0.0, 0.5)), _draw(instrument, (0.5, 1.0, 0.5))
        )


def test_dynamics_changes_the_image_and_is_monotone_near_the_head():
    for instrument in INSTRUMENTS:
        quiet, loud = _draw(instrument, (0.5, 0.5, 0.0)), _draw(instrument, (0.5, 0.5, 1.0))
        assert _changed(quiet, loud) > 0.01, instrument
    # The lean grows with dynamics: the difference to the quiet frame grows too.
    quiet = _draw("cello", (0.5, 0.5, 0.0))
    diffs = [_changed(quiet, _draw("cello", (0.5, 0.5, d))) for d in (0.25, 0.5, 1.0)]
    assert diffs[0] < diffs[1] < diffs[2]


def test_pose_is_continuous():
    # A tiny pose change moves the drawing a little, never jumps to another layout.
    for instrument in INSTRUMENTS:
        for pose, nudged in (((0, 0, 0), (0.02, 0.02, 0.02)), ((1, 1, 1), (0.98, 0.98, 0.98))):
            frac = _changed(_draw(instrument, pose), _draw(instrument, nudged))
            assert frac < 0.03, (instrument, pose, frac)


def test_instruments_differ_on_the_same_player_and_scene():
    rng = np.random.default_rng(1)
    player, scene = random_player("violin", rng), random_scene(rng)
    imgs = {i: draw_performer(i, (0.5, 0.5, 0.5), player, scene) for i in INSTRUMENTS}
    names = list(imgs)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert _changed(imgs[names[a]], imgs[names[b]]) > 0.01, (names[a], names[b])


def test_players_and_scenes_vary_the_frame():
    a, b = _draw("oboe", (0.5, 0.5, 0.5), seed=1), _draw("oboe", (0.5, 0.5, 0.5), seed=2)
    assert _changed(a, b) > 0.3
