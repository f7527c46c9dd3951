"""Shared building blocks of tfav.models (sizes, widths, up/down blocks, heads)."""

import keras
import numpy as np
import pytest

from tfav.errors import ConfigError
from tfav.models import blocks


@pytest.mark.parametrize("size, n", [(8, 1), (16, 2), (64, 4), (128, 5)])
def test_doublings_from_4x4(size, n):
    assert blocks.doublings(size) == n


@pytest.mark.parametrize("size", [48, 4, 6, 12, 100])
def test_doublings_rejects_sizes_that_are_not_powers_of_two_from_8(size):
    with pytest.raises(ConfigError, match=rf"^image_size must be a power of two >= 8, got {size}$"):
        blocks.doublings(size)


def test_doublings_from_another_start():
    assert blocks.doublings(128, start=16) == 3
    assert blocks.doublings(32, start=16) == 1
    with pytest.raises(ConfigError, match="power of two >= 32, got 16"):
        blocks.doublings(16, start=16)
    with pytest.raises(ConfigError, match="got 96"):
        blocks.doublings(96, start=16)


def test_check_upsampling():
    for ok in blocks.UPSAMPLING:
        blocks.check_upsampling(ok)
    assert blocks.UPSAMPLING == ("deconv", "resize", "bilinear")
    with pytest.raises(ConfigError, match=r"upsampling must be one of .* got 'cubic'"):
        blocks.check_upsampling("cubic")


def test_width_schedule():
    # DCGAN at 64x64: 8b, 4b, 2b, b at 4, 8, 16, 32 (and b at 64).
    assert [blocks.width(3, s, 64) for s in (4, 8, 16, 32, 64)] == [24, 12, 6, 3, 3]
    # 128x128: capped at 8b at 4x4 and 8x8; without a cap it keeps doubling.
    assert [blocks.width(1, s, 128) for s in (4, 8, 16, 32, 64)] == [8, 8, 4, 2, 1]
    assert [blocks.width(1, s, 128, most=None) for s in (4, 8, 16, 64, 128)] == [16, 8, 4, 1, 1]
    assert [blocks.width(2, s, 16) for s in (4, 8)] == [4, 2]


def test_critic_width_is_the_64x64_schedule_at_any_size():
    assert [blocks.critic_width(2, s) for s in (4, 8, 16, 32, 64, 128)] == [16, 8, 4, 2, 2, 2]


def test_down_stack_names_channels_and_norms():
    image = keras.Input((16, 16, 3))
    x = blocks.down_stack(image, 2)
    m = keras.Model(image, x)
    assert tuple(x.shape[1:]) == (4, 4, 16)  # 4b at 8x8, 8b at 4x4
    assert m.get_layer("down1_conv").filters == 8 and m.get_layer("down1_conv").use_bias
    assert not m.get_layer("down2_conv").use_bias  # batch norm follows
    names = [la.name for la in m.layers]
    assert "down1_bn" not in names and "down2_bn" in names

    sn = keras.Model(image, blocks.down_stack(image, 2, spectral_norm=True))
    names = [la.name for la in sn.layers]
    assert "down2_conv_sn" in names and "down2_bn" not in names
    assert isinstance(sn.get_layer("down2_conv_sn"), keras.layers.SpectralNormalization)
    with pytest.raises(ConfigError, match="got 12"):
        blocks.down_stack(keras.Input((12, 12, 3)), 2)


@pytest.mark.parametrize("upsampling, layer",
                         [("deconv", "image_deconv"), ("resize", "image_conv")])
def test_decoder_draws_a_tanh_image(upsampling, layer):
    v = keras.Input((5,))
    m = keras.Model(v, blocks.decoder(v, 2, 16, upsampling, prefix="g_"))
    assert tuple(m.get_layer("g_seed_map").output.shape[1:]) == (4, 4, 4)  # 2b at 4x4 of 16
    assert tuple(m.get_layer("g_up1_relu").output.shape[1:]) == (8, 8, 2)
    assert m.get_layer(f"g_{layer}").activation is keras.activations.tanh
    out = np.asarray(m(np.ones((2, 5), "float32")))
    assert out.shape == (2, 16, 16, 3) and np.all(np.abs(out) <= 1)
    with pytest.raises(ConfigError, match="upsampling"):
        blocks.decoder(v, 2, 16, "cubic")


def test_concat_head_scores_each_sample():
    x, c = keras.Input((4, 4, 6)), keras.Input((7,))
    m = keras.Model([x, c], blocks.concat_head(x, c, 3, 5, spectral_norm=False, name="s"))
    assert tuple(m.get_layer("phi_replicated").output.shape[1:]) == (4, 4, 3)
    assert m.get_layer("joint_conv").filters == 5 and "joint_bn" in [la.name for la in m.layers]
    assert isinstance(m.get_layer("s"), keras.layers.Flatten) and m.layers[-1].name == "s"
    out = np.asarray(m([np.ones((2, 4, 4, 6), "float32"), np.ones((2, 7), "float32")]))
    assert out.shape == (2, 1)
