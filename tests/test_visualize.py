"""Pictures: colour maps, grids, curves."""

import numpy as np
import pytest
from PIL import Image

from tfav import visualize


@pytest.mark.parametrize("cmap", ["magma", "viridis"])
def test_spectrogram_colours_are_a_perceptual_ramp(cmap):
    ramp = np.linspace(-1, 1, 11)[:, None]  # one frame, low values at the bottom row after flip
    rgb = visualize.spectrogram_rgb(ramp, cmap=cmap)[::-1, 0].astype(float)
    luma = rgb @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(luma) > 0)  # brighter with the value: readable in grey too
    clipped = visualize.spectrogram_rgb(np.array([[-5.0], [5.0]]), cmap=cmap)
    np.testing.assert_array_equal(clipped[::-1, 0], rgb[[0, -1]].astype(np.uint8))


def test_to_uint8_image_maps_model_range():
    out = visualize.to_uint8_image(np.array([[[-1.0, 0.0, 1.0]]]))
    np.testing.assert_array_equal(out, [[[0, 128, 255]]])


def test_image_grid_places_cells_of_different_widths():
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    wide = np.zeros((128, 44 * 2, 3), np.uint8)  # a spectrogram cell, scaled to the row height
    wide[..., 2] = 255
    grid = visualize.image_grid([[red, wide], [red]], cell_height=64, pad=2)
    assert grid.shape == (2 * 66 + 2, 2 + 64 + 2 + 44 + 2, 3)
    assert tuple(grid[10, 10]) == (255, 0, 0) and tuple(grid[10, 2 + 64 + 2 + 5]) == (0, 0, 255)
    assert tuple(grid[80, 2 + 64 + 2 + 5]) == (255, 255, 255)  # second row has no second cell


def test_save_png_and_line_plot(tmp_path):
    visualize.save_png(tmp_path / "a.png", np.full((5, 7, 3), 9, np.uint8))
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (7, 5) and im.getpixel((0, 0)) == (9, 9, 9)
    visualize.line_plot(tmp_path / "c.png", {"train": ([1, 2, 3], [0.1, 0.5, 0.7])},
                        "t", "epoch", "accuracy")
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == (600, 400)
    assert not list(tmp_path.glob(".*tmp"))
