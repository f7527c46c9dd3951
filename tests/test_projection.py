"""Wan/Yang discriminators: projection head, auxiliary classifier, spectral norm."""

import keras
import numpy as np
import pytest

from tfav.errors import ConfigError
from tfav.models.projection import scene_discriminator


def _inputs(n=3, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, 16, 16, 3)).astype("float32"),
            rng.normal(size=(n, dim)).astype("float32"))


def test_projection_score_is_psi_plus_inner_product():
    d = scene_discriminator(6, base_filters=4, image_size=16, head="projection",
                            spectral_norm=False, batch_norm=False)
    x, s = _inputs()
    h = keras.Model(d.inputs, d.get_layer("features").output)([x, s]).numpy()
    w_psi, b_psi = d.get_layer("psi").get_weights()
    v = d.get_layer("projection").get_weights()[0]
    expected = h @ w_psi + b_psi + np.sum((s @ v) * h, axis=1, keepdims=True)
    np.testing.assert_allclose(d([x, s]).numpy(), expected, rtol=1e-4, atol=1e-4)
    # The condition changes the score only through the inner product.
    s2 = s[::-1].copy()
    assert not np.allclose(d([x, s]).numpy(), d([x, s2]).numpy())


def test_auxiliary_classifier_and_spectral_norm_everywhere():
    d = scene_discriminator(6, base_filters=4, image_size=16, head="projection", num_classes=5)
    x, s = _inputs()
    score, logits = d([x, s])
    assert score.shape == (3, 1) and logits.shape == (3, 5)
    kinds = {type(layer).__name__ for layer in d.layers}
    assert "BatchNormalization" not in kinds
    bare = keras.layers.Conv2D | keras.layers.Dense
    plain = [layer.name for layer in d.layers if isinstance(layer, bare)]
    assert not plain, f"layers without spectral norm: {plain}"
    assert sum(isinstance(layer, keras.layers.SpectralNormalization) for layer in d.layers) == 2 + 3


def test_concat_head_and_bad_arguments():
    d = scene_discriminator(6, base_filters=4, image_size=16, head="concat", spectral_norm=False)
    assert d(_inputs()).shape == (3, 1)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in d.layers)
    with pytest.raises(ConfigError, match="head"):
        scene_discriminator(6, head="sum")
    with pytest.raises(ConfigError, match="power of two"):
        scene_discriminator(6, image_size=48)
