"""The model registry (every registered model: forward and backward pass), the losses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fastfeed import models
from fastfeed.models import losses


def _inputs(model, batch=2, seed=0):
    """Random uint8 images for each of a model's named inputs (32 px where a model
    takes any size)."""
    rng = np.random.default_rng(seed)
    return {t.name: rng.integers(0, 256, (batch, *(d or 32 for d in t.shape[1:])),
                                 dtype=np.uint8)
            for t in model.inputs}


@pytest.mark.parametrize("name", models.available())
def test_every_model_runs_forward_and_backward(name):
    model = models.get(name, image_size=32)
    inputs = {key: tf.constant(value) for key, value in _inputs(model).items()}
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        loss = tf.reduce_mean(tf.square(tf.cast(out, tf.float32)))
    assert out.dtype == tf.float32 and out.shape[0] == 2
    grads = tape.gradient(loss, model.trainable_variables)
    assert any(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
    assert models.describe(name)
    has_embedding = any(layer.name == "embedding" for layer in model.layers)
    assert models.metadata(name)["embedding"] == has_embedding  # what the registry says


def test_registry_errors_and_registration():
    with pytest.raises(ValueError, match="Unknown model 'nope'; available: .*siamese"):
        models.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        models.register(models._REGISTRY["siamese"])


def test_siamese_embedding_is_shared_and_unit_norm():
    model = models.get("siamese", image_size=32, jitter=0.2, seed=1)
    embed = model.get_layer("embedding")
    x = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    e = embed(x, training=False).numpy()
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    logit = model({"image1": x, "image2": x}, training=False).numpy()
    head = model.get_layer("head")
    np.testing.assert_allclose(logit[:, 0], float(head.scale) + float(head.bias), atol=1e-4)
    # colour jitter runs in training only
    np.testing.assert_array_equal(embed(x, training=False), embed(x, training=False))


def test_saved_model_round_trip(tmp_path):
    model = models.get("siamese", image_size=32)
    path = str(tmp_path / "model.keras")
    model.save(path)
    again = keras.models.load_model(path)
    x = np.random.default_rng(2).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(model({"image1": x, "image2": x[::-1]}),
                               again({"image1": x, "image2": x[::-1]}), atol=1e-6)


def test_supervised_contrastive_by_hand():
    e = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    labels = np.array([0, 0, 1, 1])
    t = 0.5
    # anchor 0: positive 1 (sim 1), others 2, 3 (sim 0)
    expected = -np.log(np.exp(1 / t) / (np.exp(1 / t) + 2))
    np.testing.assert_allclose(float(losses.supervised_contrastive(e, labels, t)),
                               expected, rtol=1e-5)
    worse = float(losses.supervised_contrastive(e, np.array([0, 1, 0, 1]), t))
    assert worse > expected
    assert float(losses.nearest_neighbour_accuracy(e, labels)) == 1.0


def test_pair_losses():
    logits = np.array([[2.0], [-1.0], [0.5]], np.float32)
    labels = np.array([1, 0, 0], np.float32)
    expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0)),
                        np.log1p(np.exp(0.5))])
    np.testing.assert_allclose(float(losses.pair_bce(logits, labels)), expected, rtol=1e-5)
    np.testing.assert_allclose(float(losses.pair_accuracy(logits, labels)), 2 / 3)


def test_unet_small_logit_at_the_input_resolution_any_size():
    model = models.get("unet_small")
    assert model.count_params() <= 3_000_000
    for height, width in ((64, 96), (128, 32)):
        x = np.zeros((1, height, width, 3), np.uint8)
        assert model(x, training=False).shape == (1, height, width, 1)
