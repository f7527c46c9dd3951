"""Realism measures against hand-computed cases."""

import numpy as np
import pytest

from tfav import realism


def smooth(n=16, size=32, seed=0):
    """Smooth random images (low-pass noise) in [-1, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, size // 4, size // 4, 3))
    x = np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)
    return np.tanh(0.5 * x)


def test_spectrum_of_a_set_against_itself_is_zero_and_speckle_raises_high_frequencies():
    real = smooth()
    assert realism.spectrum_gap_db(real, real)["spectrum_gap_db"] == 0.0
    speckled = np.clip(real + np.random.default_rng(1).normal(0, 0.3, real.shape), -1, 1)
    gap = realism.spectrum_gap_db(speckled, real)
    assert gap["spectrum_high_db"] > 3.0 and gap["spectrum_gap_db"] > 1.0


def test_radial_spectrum_of_a_single_frequency_peaks_at_its_radius():
    size, k = 32, 5
    x = np.cos(2 * np.pi * k * np.arange(size) / size)
    img = np.broadcast_to(x[None, None, :, None], (1, size, size, 3)) * 0.5
    spectrum = realism.radial_power_spectrum(img)
    assert int(np.argmax(spectrum)) == k


def test_total_variation_by_hand():
    img = np.zeros((1, 2, 2, 3))
    img[0, :, 1] = 1.0  # a vertical edge: dx = 1 on every row, dy = 0
    assert realism.total_variation(img) == pytest.approx(0.5)
    assert realism.total_variation_ratio(img, img) == pytest.approx(1.0)


def test_noise_spread_is_zero_for_ignored_noise_and_one_for_real_like_draws():
    real = smooth(n=8)
    labels = np.zeros(8, int)
    same = np.repeat(real[:1][None], 4, axis=1)  # one condition, four identical draws
    assert realism.noise_spread(same, real, labels, [0]) == 0.0
    draws = real[None, :8]  # the draws are the real frames themselves
    assert realism.noise_spread(draws, real, labels, [0]) == pytest.approx(1.0)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((200, 8)), rng.standard_normal((200, 8))
    assert abs(realism.kernel_inception_distance(a, b)) < 0.05
    assert realism.kernel_inception_distance(a, b + 1.0) > 0.5


def test_contrast_and_colourfulness_by_hand_and_washing_out_lowers_both():
    grey = np.zeros((1, 2, 2, 3))
    grey[0, 0, :, :] = 0.5
    grey[0, 1, :, :] = -0.5  # half the pixels at +0.5, half at -0.5: std 0.5, no colour
    assert realism.contrast(grey) == pytest.approx(0.5)
    assert realism.colourfulness(grey) == pytest.approx(0.0)
    red = np.full((1, 2, 2, 3), -1.0)
    red[..., 0] = 1.0  # pure red: rg = 255, yb = 127.5 everywhere, no spread
    assert realism.colourfulness(red) == pytest.approx(0.3 * np.hypot(255.0, 127.5))
    real = smooth(seed=3)
    assert realism.contrast_ratio(real, real) == pytest.approx(1.0)
    washed = 0.5 * real  # half the contrast, the look of a low-contrast generator
    assert realism.contrast_ratio(washed, real) == pytest.approx(0.5)
    assert realism.colourfulness_ratio(washed, real) < 0.6


def test_bad_shapes_say_what_is_wrong():
    with pytest.raises(ValueError, match="expected \\[N, H, W, 3\\]"):
        realism.total_variation(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        realism.radial_power_spectrum(np.full((1, 4, 4, 3), np.nan))
