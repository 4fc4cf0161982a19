"""Native augmentation registry and the albumentations bridge."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from fastfeed.compose import albu, augment, composites, faces
from fastfeed.compose.augment import pipeline

SPECS = {"resize": "resize(12)", "center_crop": "center_crop(12)",
         "random_crop": "random_crop(12)", "random_resized_crop": "random_resized_crop(12)",
         "rot90": "center_crop(12)|rot90", "crop": "crop(12, 12)",
         # aug_mix: its geometric ops refuse masks; rot90: a batch of rotations needs
         # square images
         "aug_mix": "aug_mix(geometric=False)"}


def _take(stream, batches=1):
    return [{k: v.numpy() for k, v in batch.items()} for batch in stream.take(batches)]


def _example():
    """A 16x20 image whose mask is derived from it (red > 128), so geometry can be
    checked by recomputing the mask from the augmented image."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    image[..., 0] = np.where(image[..., 0] > 128, 255, 0)
    return {"image": tf.constant(image),
            "mask": tf.constant((image[..., :1] > 128).astype(np.uint8))}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(augment.REGISTRY))
def test_every_op_eager_in_dataset_map_and_on_batches(name):
    fn = augment.parse(SPECS.get(name, name), seed=4)
    example = _example()
    if fn.mixing_start is not None:  # batches only; mix_up blends float masks only
        batch = {k: tf.stack([v, v[::-1]]) for k, v in example.items()
                 if k == "image" or name != "mix_up"}
        eager = fn(tf.constant(7, tf.int64), batch)
        mapped = next(iter(tf.data.Dataset.from_tensors(batch).map(
            lambda e: fn(tf.constant(7, tf.int64), e))))
        for key in batch:
            assert eager[key].dtype == batch[key].dtype
            np.testing.assert_array_equal(eager[key].numpy(), mapped[key].numpy())
        return
    eager = fn(tf.constant(7, tf.int64), example)
    mapped = next(iter(tf.data.Dataset.from_tensors(example).map(
        lambda e: fn(tf.constant(7, tf.int64), e))))
    for key in ("image", "mask"):
        assert eager[key].dtype == example[key].dtype
        np.testing.assert_array_equal(eager[key].numpy(), mapped[key].numpy())
    batch = {k: tf.stack([v, v]) for k, v in example.items()}
    batched = fn(tf.constant(7, tf.int64), batch)
    assert batched["image"].shape[0] == 2 and batched["image"].shape[1:] == eager["image"].shape
    if name in SPECS and name != "aug_mix":
        assert eager["image"].shape[:2] == (12, 12)


@pytest.mark.parametrize("name", sorted(
    n for n in augment.REGISTRY if n != "rand_augment"  # with photometric ops too
    if augment.build_op(SPECS.get(n, n).split("|")[-1]).kind == "geometric"))
def test_geometric_ops_move_the_mask_with_the_image(name):
    spec = SPECS.get(name, name)
    for index in range(4):  # different draws
        out = augment.parse(spec, seed=1)(tf.constant(index), _example())
        image, mask = out["image"].numpy(), out["mask"].numpy()[..., 0]
        derived = image[..., 0] > 128
        if name in ("rotate", "random_resized_crop", "resize", "rotation", "translation",
                    "zoom", "shear", "perspective", "elastic_transform"):
            # Bilinear image vs nearest mask: they may differ on the edges of regions.
            assert (derived == mask.astype(bool)).mean() > 0.8
        else:
            np.testing.assert_array_equal(derived, mask.astype(bool))


PHOTOMETRIC = {"grayscale": "grayscale(1.0)", "gaussian_blur": "gaussian_blur(p=1.0)",
               "gaussian_noise": "gaussian_noise(p=1.0)", "cutout": "cutout(0.5, p=1.0)",
               "invert": "invert(1.0)", "erasing": "erasing(p=1.0)",
               "posterization": "posterization(2)", "sharpness": "sharpness(1.0)",
               "color_degeneration": "color_degeneration((0.5, 1.0))",
               "aug_mix": "aug_mix(geometric=False)"}


@pytest.mark.parametrize("name", sorted(
    n for n in augment.REGISTRY
    if augment.build_op(SPECS.get(n, n).split("|")[-1]).kind == "photometric"))
def test_photometric_ops_change_the_image_and_leave_masks_alone(name):
    example = _example()
    if name in ("equalization", "auto_contrast"):  # nothing to stretch in a full range
        example["image"] = example["image"] // 2 + 20
    out = augment.parse(PHOTOMETRIC.get(name, name), seed=2)(tf.constant(0), example)
    np.testing.assert_array_equal(out["mask"], example["mask"])
    assert not np.array_equal(out["image"], example["image"])


@pytest.mark.slow
def test_determinism_and_independent_keys():
    spec = "flip_lr|random_resized_crop(12, scale=(0.3, 1))|color_jitter|gaussian_blur(p=0.5)"
    images = tf.data.Dataset.from_tensors(_example()).repeat(6)

    def run(parallel, seed=0):
        fn = augment.parse(spec, seed=seed)
        return [e["image"].numpy() for e in images.enumerate().map(
            fn, num_parallel_calls=parallel)]

    first = run(1)
    for a, b in zip(first, run(4)):
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in first}) == 6
    assert any(not np.array_equal(a, b) for a, b in zip(first, run(4, seed=1)))
    image = _example()["image"]
    pair = {"image1": image, "image2": image}
    shared = augment.parse(spec, image_keys=("image1", "image2"))(tf.constant(0), pair)
    np.testing.assert_array_equal(shared["image1"], shared["image2"])
    apart = augment.parse(spec, image_keys=("image1", "image2"), independent=True)(
        tf.constant(0), pair)
    assert not np.array_equal(apart["image1"], apart["image2"])


# The benchmark's pipelines (fastfeed bench augment), small: every kind of stage
# (fused warps, XLA photometric runs, per-example ops inside a batch, a policy).
BENCH_SPECS = [
    "flip('horizontal')|crop(80, 80)|rotation(0.05)|zoom(0.2)|translation(0.1, 0.1)",
    "crop(80, 80)|color_jitter(0.2, 0.2, 0.2)|sharpness|posterization((4, 8))|equalization",
    "crop(80, 80)|rand_augment(2, 9)",
    "flip_lr|random_resized_crop(80, scale=(0.3, 1.0))|color_jitter(0.2, 0.2, 0.2)"
    "|gaussian_blur(sigma=(0.1, 2.0), p=0.5)",
]


@pytest.mark.slow
@pytest.mark.parametrize("spec", BENCH_SPECS)
def test_a_batch_with_its_examples_indices_is_its_examples_one_by_one(spec):
    """pipeline(indices [B], batch): each example draws as it would alone, so the
    batched path gives the per-example path's bytes, whatever the batch size, the
    parallelism or the batch a stream resumes at; masks move with the images. (At
    96 px: a float32 mean, tiled differently for a batch, once gave one level apart.)"""
    rng = np.random.default_rng(0)
    data = {"image": rng.integers(0, 256, (12, 96, 96, 3), dtype=np.uint8),
            "mask": (rng.random((12, 96, 96, 1)) > 0.5).astype(np.uint8)}
    if "rand_augment" in spec:
        del data["mask"]  # its geometric ops refuse masks
    fn = augment.parse(spec, seed=5)
    one_by_one = [e for e in tf.data.Dataset.from_tensor_slices(data).enumerate(start=7)
                  .map(fn).as_numpy_iterator()]
    for size, parallel, resume in ((4, 1, 0), (6, 4, 0), (3, 2, 2)):
        batched = (tf.data.Dataset.from_tensor_slices(data).batch(size).enumerate()
                   .skip(resume)
                   .map(lambda k, b: fn(7 + k * size + tf.range(size, dtype=tf.int64), b),
                        num_parallel_calls=parallel).unbatch().as_numpy_iterator())
        for a, b in zip(one_by_one[resume * size:], batched, strict=True):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{spec} {key}")


def test_indices_for_a_single_example_or_a_mixing_op_are_refused():
    example = _example()
    with pytest.raises(ValueError, match="vector of example indices goes with a batch"):
        augment.parse("flip_lr")(tf.constant([0, 1]), example)
    batch = {"image": tf.zeros([2, 8, 8, 3], tf.uint8), "label": tf.zeros([2, 3])}
    with pytest.raises(ValueError, match="call it with the batch number k"):
        augment.parse("flip_lr|mix_up(0.2)")(tf.constant([0, 1]), batch)


def test_xla_stages_match_the_plain_graph():
    """Photometric runs compiled with XLA draw the same numbers; pixels agree to within
    rounding. Geometric ops keep uint8 images uint8 until a photometric op needs floats."""
    spec = ("flip_lr|random_resized_crop(12)|color_jitter(0.4, 0.4, 0.4)|hue(0.1)|"
            "gaussian_blur(p=1.0)|brightness|cutout(p=1.0)")
    example = _example()
    for index in range(3):
        fast = augment.parse(spec, seed=3)(tf.constant(index), example)
        plain = augment.parse(spec, seed=3, jit=False)(tf.constant(index), example)
        np.testing.assert_array_equal(fast["mask"], plain["mask"])
        difference = np.abs(fast["image"].numpy().astype(int) - plain["image"].numpy())
        assert difference.max() <= 1
    stages = pipeline._stages(list(enumerate(augment.build_op(t) for t in spec.split("|"))),
                              jit=True)
    assert [[op.name for _, op in members] for members, _ in stages] == [
        ["flip_lr", "random_resized_crop"], ["color_jitter", "hue"], ["gaussian_blur"],
        ["brightness", "cutout"]]  # the flip and the crop's resize: one resampling


def test_clear_errors():
    with pytest.raises(ValueError, match="Unknown augmentation op 'spin'.*flip_lr"):
        augment.parse("flip_lr|spin(3)")
    with pytest.raises(ValueError, match="Bad arguments.*flip_lr"):
        augment.parse("flip_lr(0.5, 3, 4)")
    with pytest.raises(ValueError, match="Python literals"):
        augment.parse("rotate(__import__('os'))")
    with pytest.raises(ValueError, match="probability"):
        augment.parse("flip_lr(p=2)")
    with pytest.raises(ValueError, match="Empty"):
        augment.parse(" | ")
    with pytest.raises(ValueError, match="image keys"):
        augment.parse("flip_lr")(tf.constant(0), {"picture": tf.zeros([4, 4, 3])})


def test_albumentations_bridge_on_a_batch_needs_one_output_size():
    import albumentations as A

    batch = {k: tf.stack([v] * 4) for k, v in _example().items()}
    varying = albu.albumentations_map(A.Compose([A.RandomScale(scale_limit=0.5, p=1.0)]))
    with pytest.raises(Exception, match="one output size"):
        varying(tf.constant(0), batch)
    fixed = albu.albumentations_map(A.Compose([A.RandomScale(0.5, p=1.0),
                                               A.Resize(10, 10)]))
    assert fixed(tf.constant(0), batch)["mask"].shape == (4, 10, 10, 1)


def test_albumentations_bridge(tmp_path):
    import albumentations as A

    transform = A.Compose([A.HorizontalFlip(p=0.5),
                           A.RandomResizedCrop((12, 12), scale=(0.5, 1.0)),
                           A.ColorJitter(0.2, 0.2, 0.2, 0.0, p=1.0)])
    path = tmp_path / "transform.yaml"
    A.save(transform, str(path), data_format="yaml")
    images = tf.data.Dataset.from_tensors(_example()).repeat(6).enumerate()
    runs = []
    for source, parallel in ((transform, 1), (str(path), 4), (A.to_dict(transform), 2)):
        fn = albu.albumentations_map(source, seed=5)
        runs.append([{k: v.numpy() for k, v in e.items()} for e in images.map(
            fn, num_parallel_calls=parallel)])
    for other in runs[1:]:  # same seed: same outputs, from any form, any parallelism
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a["image"], b["image"])
    for example in runs[0]:
        assert example["image"].shape == (12, 12, 3) and example["mask"].shape == (12, 12, 1)
        assert example["image"].dtype == np.uint8
    flips = A.Compose([A.HorizontalFlip(p=0.5)])
    sixteen = tf.data.Dataset.from_tensors(_example()).repeat(16).enumerate()
    for example in (flips_out := [e for e in sixteen.map(albu.albumentations_map(flips))]):
        np.testing.assert_array_equal(example["image"].numpy()[..., 0] > 128,
                                      example["mask"].numpy()[..., 0].astype(bool))
    assert len({e["image"].numpy().tobytes() for e in flips_out}) == 2  # flipped or not
    only_image = albu.albumentations_map(transform, targets={"image": "image"})
    single = only_image(tf.constant(0), {"image": _example()["image"]})["image"]
    batch = only_image(tf.constant(0), {"image": tf.stack([_example()["image"]] * 3)})["image"]
    assert single.shape == (12, 12, 3) and batch.shape == (3, 12, 12, 3)
    with pytest.raises(FileNotFoundError):
        albu.albumentations_map(str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="targets"):
        albu.albumentations_map(flips, targets={"image": "depth"})


EXIT_SCRIPT = """
import numpy as np, tensorflow as tf, albumentations as A
from fastfeed.compose import albu
images = np.random.default_rng(0).integers(0, 256, (16, 64, 64, 3), np.uint8)
fn = albu.albumentations_map(A.Compose([A.RandomResizedCrop((32, 32))]), targets={"image": "image"})
ds = tf.data.Dataset.from_tensor_slices({"image": images}).repeat()
ds = ds.batch(4).enumerate() if BATCH else ds.enumerate()
it = iter(ds.map(fn, num_parallel_calls=4).prefetch(8))  # alive until Python shuts down
for _ in range(5):
    next(it)
print("done", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("batch", [False, True])
def test_albumentations_bridge_lets_python_exit_with_an_iterator_alive(batch):
    """TF destroys a module-level iterator during finalisation; without the bridge's
    exit handler, its threads wait for the GIL and the process hangs or aborts."""
    done = subprocess.run([sys.executable, "-c", f"BATCH = {batch}" + EXIT_SCRIPT],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done"


@pytest.mark.slow
def test_streams_take_a_spec_a_function_or_an_albumentations_transform(tmp_path,
                                                                      noise_people):
    """composite_stream: image, mask and alpha move together under each form of
    augment=; pair_stream: image1 and image2 draw independently, deterministically."""
    import albumentations as A

    flip = A.Compose([A.HorizontalFlip(p=1.0)])
    A.save(flip, str(tmp_path / "flip.yaml"), data_format="yaml")
    forms = {"spec": "flip_lr(p=1.0)", "function": augment.parse("flip_lr(p=1.0)", mask_keys=(
        "mask", "alpha")), "transform": flip, "file": str(tmp_path / "flip.yaml")}
    plain, = _take(composites.composite_stream(image_size=32, batch_size=3, seed=2))
    for name, form in forms.items():
        out, = _take(composites.composite_stream(image_size=32, batch_size=3, seed=2,
                                                augment=form))
        for key in ("image", "mask", "alpha"):
            np.testing.assert_array_equal(out[key], plain[key][:, :, ::-1], err_msg=name)
    shaped = composites.composite_stream(image_size=32, batch_size=3,
                                        augment="random_resized_crop(24)|color_jitter")
    assert shaped.element_spec["image"].shape.as_list()[1:] == [24, 24, 3]
    out, = _take(shaped)
    np.testing.assert_array_equal(out["mask"], (out["alpha"] >= 128).astype(np.uint8))
    with pytest.raises(ValueError, match="augment must be None, a spec string"):
        composites.composite_stream(augment=42)

    people = noise_people
    def pair_batch(augment_, parallel=2):
        stream = faces.pair_stream(people, image_size=16, batch_size=8, seed=5,
                                   augment=augment_, num_parallel_calls=parallel)
        # Native ops know their output size; albumentations' is only known when it runs.
        assert stream.element_spec[0]["image1"].shape.as_list()[1:] in (
            [12, 12, 3], [None, None, 3])
        return [x["image1"].numpy() for x, _ in stream.take(2)], next(iter(stream))
    for form in ("flip_lr|random_resized_crop(12)|hue(0.1)",
                 A.Compose([A.HorizontalFlip(), A.RandomResizedCrop((12, 12))])):
        first, (batch, _) = pair_batch(form, 1)
        again, _ = pair_batch(form, 4)
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)
        assert batch["image1"].shape == batch["image2"].shape == (8, 12, 12, 3)
    # A transform, like a spec, draws apart for image1 and image2 when asked to.
    image = _example()["image"]
    pair = {"image1": tf.stack([image] * 4), "image2": tf.stack([image] * 4)}
    crop = A.Compose([A.RandomResizedCrop((12, 12))])
    apart = augment.resolve(crop, image_keys=("image1", "image2"), independent=True)
    joint = augment.resolve(crop, image_keys=("image1", "image2"))
    out = apart(tf.constant(0), pair)
    assert not np.array_equal(out["image1"], out["image2"])
    out = joint(tf.constant(0), pair)
    np.testing.assert_array_equal(out["image1"], out["image2"])
    plain_pairs = next(iter(faces.pair_stream(people, image_size=16, batch_size=8,
                                              seed=5)))[0]
    def marked(index, example):  # the one signature of user functions
        return {k: 255 - v for k, v in example.items()}
    inverted, _ = next(iter(faces.pair_stream(people, image_size=16, batch_size=8,
                                               seed=5, augment=marked)))
    np.testing.assert_array_equal(inverted["image1"], 255 - plain_pairs["image1"])
    with pytest.raises(ValueError, match="Unknown augment 'spin'.*flip_lr"):
        faces.pair_stream(people, augment="spin")


@pytest.mark.slow
def test_composite_stream_augments_whole_batches_as_its_examples_one_by_one():
    """The stream applies native ops to each batch at once, example kB + i drawing as
    it would alone: the bytes of the pipeline run on each example by itself; a user's
    function still sees one example at a time."""
    spec = ("flip_lr|random_resized_crop(24)|color_jitter(0.3, 0.3, 0.3)|hue(0.05)"
            "|gaussian_noise((0.0, 6.0), p=0.5)|jpeg_quality(40, 95)")
    plain = _take(composites.composite_stream(image_size=32, batch_size=3, seed=4), 2)
    augmented = _take(composites.composite_stream(image_size=32, batch_size=3, seed=4,
                                                  augment=spec), 2)
    alone = augment.parse(spec, seed=4, mask_keys=("mask", "alpha"))
    for k, (batch, out) in enumerate(zip(plain, augmented)):
        for i in range(3):
            want = alone(tf.constant(3 * k + i),
                         {key: tf.constant(batch[key][i]) for key in batch})
            for key in ("image", "mask", "alpha"):
                np.testing.assert_array_equal(out[key][i], want[key], err_msg=(k, i, key))
    shapes = []

    def one_at_a_time(index, example):
        shapes.append(example["image"].shape.rank)
        return example
    _take(composites.composite_stream(image_size=32, batch_size=3, augment=one_at_a_time))
    assert set(shapes) == {3}


def test_examples_of_a_batch_draw_apart_and_batches_match_examples():
    """Example i of a batch takes element i of every draw: identical inputs come out
    different (this fails if two examples share a draw), whether the batch runs whole
    (batchable ops) or example by example, and the two ways agree."""
    image = _example()["image"]
    batch = {"image": tf.stack([image] * 8), "mask": tf.stack([_example()["mask"]] * 8)}
    for spec in ("flip_lr|random_resized_crop(12, method='nearest')|color_jitter",
                 "random_resized_crop(12)|hue(0.1)|gaussian_noise(p=1.0)|rot90"):
        out = augment.parse(spec, seed=2)(tf.constant(5), batch)
        images = out["image"].numpy()
        assert len({x.tobytes() for x in images}) == 8, spec
    whole = augment.parse("flip_lr|random_crop(12)|color_jitter(0.4, 0.4, 0.4)", seed=1)
    assert all(op.batchable for op in whole.ops)
    one_by_one = augment.parse("flip_lr|random_crop(12)|color_jitter(0.4, 0.4, 0.4)|"
                               "rot90(p=0.0)", seed=1)  # rot90 is not batchable
    a = whole(tf.constant(3), batch)
    b = one_by_one(tf.constant(3), batch)
    np.testing.assert_array_equal(a["mask"], b["mask"])
    assert np.abs(a["image"].numpy().astype(int) - b["image"].numpy()).max() <= 1


def test_albumentations_bridge_draws_apart_within_a_batch():
    import albumentations as A

    batch = {"image": tf.stack([_example()["image"]] * 8)}
    fn = albu.albumentations_map(A.Compose([A.RandomResizedCrop((12, 12))]),
                                 targets={"image": "image"}, seed=3)
    images = fn(tf.constant(0), batch)["image"].numpy()
    assert len({x.tobytes() for x in images}) == 8


@pytest.mark.parametrize("name", ["brightness", "contrast", "saturation"])
def test_keras_layers_compute_the_registry_ops(name):
    """Given the layer's own draws, the registry op of the same name gives the same
    pixels; outside training the layer passes images through."""
    from fastfeed.models import layers

    images = tf.random.stateless_uniform([4, 8, 8, 3], [1, 2], 0, 255)
    layer = getattr(layers, name.capitalize())(0.4, seed=3)
    factors = layer.draw(images)
    assert len(set(factors.numpy().tolist())) == 4  # one draw per image
    op = augment.build_op(f"{name}(0.4)")
    expected = tf.stack([op.apply(images[i], factors[i], False) for i in range(4)])
    np.testing.assert_array_equal(layer.adjust(images, factors), expected)
    np.testing.assert_array_equal(layer(images, training=False), images)
    assert not np.array_equal(layer(images, training=True), images)


def test_keras_layers_for_jitter_hue_and_grayscale():
    import keras

    from fastfeed.models import layers

    images = tf.random.stateless_uniform([4, 8, 8, 3], [3, 4], 0, 255)
    jitter = layers.color_jitter(0.3, 0.3, 0.3, seed=1)
    seeds = [step.seed for step in jitter.steps]
    assert len(set(seeds)) == 3  # independent seeds per layer
    model = keras.Sequential([keras.Input((8, 8, 3)), jitter])
    np.testing.assert_array_equal(model(images, training=False), images)
    assert model(images, training=True).shape == images.shape
    deltas = tf.constant([0.05, -0.03, 0.1, 0.0])
    hue = layers.hue(0.1).transform_images(images, {"factor": deltas}, training=True)
    op = augment.build_op("hue(0.1)")
    expected = tf.stack([op.apply(images[i], deltas[i], False) for i in range(4)])
    np.testing.assert_allclose(hue, expected, atol=1e-3)
    chosen = tf.constant([True, False, True, False])
    gray = layers.grayscale(0.5).transform_images(images, chosen[:, None, None, None])
    op = augment.build_op("grayscale")
    expected = tf.stack([op.apply(images[i], chosen[i], False) for i in range(4)])
    np.testing.assert_allclose(gray, expected, atol=1e-4)


@pytest.mark.slow
def test_composite_stream_runs_albumentations_once_per_batch(monkeypatch):
    import albumentations as A

    ranks = []
    real = albu.albumentations_map

    def spy(*args, **kwargs):
        fn = real(*args, **kwargs)

        def traced(index, example):
            ranks.append(example["image"].shape.rank)
            return fn(index, example)
        return traced
    monkeypatch.setattr(albu, "albumentations_map", spy)
    stream = composites.composite_stream(image_size=32, batch_size=4, seed=1,
                                        augment=A.Compose([A.HorizontalFlip(p=1.0)]))
    batch, = _take(stream)
    plain, = _take(composites.composite_stream(image_size=32, batch_size=4, seed=1))
    assert ranks == [4]  # traced once, on batches
    np.testing.assert_array_equal(batch["mask"], plain["mask"][:, :, ::-1])


def test_gaussian_blur_keeps_a_flat_image_flat_and_any_sigma_bounded():
    # Reflection padding (OpenCV's, Keras'): zero padding darkened a flat 200 image's
    # corners to 72 at sigma 2. A huge sigma costs at most the image's own size.
    flat = {"image": tf.fill([24, 40, 3], tf.constant(200, tf.uint8))}
    for spec in ("gaussian_blur(2.0, p=1.0)", "gaussian_blur((1e6, 1e6), p=1.0)"):
        out = augment.parse(spec, seed=0)(tf.constant(0), flat)["image"].numpy()
        assert out.shape == (24, 40, 3) and out.min() == out.max() == 200, spec
    # Still a blur: a bright dot spreads, its total kept away from the borders.
    dot = np.zeros([21, 21, 1], np.float32)
    dot[10, 10] = 255
    from fastfeed.compose.augment.photometric import gaussian_filter

    blurred = gaussian_filter(tf.constant(dot), tf.constant(2.0), tf.constant(6)).numpy()
    assert blurred[10, 10, 0] < 255 / 10 and abs(blurred.sum() - 255) < 1e-2


@pytest.mark.parametrize("spec", ["gaussian_blur((1e999, 1e999))", "rotate(1e999)",
                                  "gaussian_blur(p=-1e999)", "color_jitter(1e999)",
                                  "random_resized_crop(32, scale=(0.5, 1e999))",
                                  "gaussian_noise(1j)"])
def test_spec_numbers_must_be_finite(spec):
    with pytest.raises(ValueError, match="not a finite real number"):
        augment.parse(spec)


@pytest.mark.slow
def test_ops_keeping_any_dtype_give_8_bits_the_float_values_rounded():
    """equalization and auto_contrast take an 8-bit image as it is (no pass through
    float32): the same bytes as on float32 then rounded, alone, in a batch and as the
    last stage of a pipeline."""
    rng = np.random.default_rng(3)
    images = np.concatenate([rng.integers(0, 256, (3, 20, 24, 3)),
                             rng.integers(90, 140, (2, 20, 24, 3)),
                             np.full((1, 20, 24, 3), 7)]).astype(np.uint8)
    for name in ("equalization", "equalization(64)", "auto_contrast"):
        op = augment.build_op(name)
        assert op.any_dtype
        for x in (images, images[0]):
            got = op.apply(tf.constant(x), tf.zeros([]), False)
            want = op.apply(tf.constant(x, tf.float32), tf.zeros([]), False)
            assert got.dtype == tf.uint8
            np.testing.assert_array_equal(
                got, tf.saturate_cast(tf.round(want), tf.uint8), err_msg=name)
        fn = augment.parse(f"brightness(0.3)|{name}", seed=1)
        floats = fn(tf.range(6, dtype=tf.int64), {"image": tf.constant(images, tf.float32)})
        eights = fn(tf.range(6, dtype=tf.int64), {"image": tf.constant(images)})
        np.testing.assert_array_equal(eights["image"], tf.saturate_cast(
            tf.round(floats["image"]), tf.uint8), err_msg=name)
