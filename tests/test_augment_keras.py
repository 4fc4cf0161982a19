"""Keras 3's augmentation vocabulary as registry ops: each op given the same draw as the
Keras layer of the same name gives the layer's output; the policies; the mixing ops."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fastfeed.compose import augment, composites, faces
from fastfeed.compose.augment import policies, registry, warps

B, H, W = 3, 24, 32


def _images(seed=0):
    """Smooth images (so a sub-pixel difference in a transform stays small) with
    sharp edges, float32 in [0, 255]."""
    rows, cols = np.mgrid[0:H, 0:W]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(B):
        phase = rng.uniform(0, 6, 3)
        image = np.stack([127 + 100 * np.sin(rows / 5 + cols / 7 + p) for p in phase], -1)
        image[4:10, 6:14] = rng.uniform(0, 255, 3)
        out.append(image)
    return tf.constant(np.round(np.array(out)), tf.float32)


def _ours(spec, images, seed=7):
    op = augment.build_op(spec)
    params = op.sample(tf.constant([seed, 1], tf.int64), tf.shape(images)[1:],
                       tf.shape(images)[:1])
    if op.kind == augment.MIXING:
        return op, params, None
    return op, params, op.apply(images, params, False)


def _compare(ours, theirs, mean=1e-3, worst=1e-2):
    difference = np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64))
    assert difference.mean() <= mean and difference.max() <= worst, (
        difference.mean(), difference.max())


# Geometric ops: the transform is rounded to 2**-16 px per unit (warps.FRACTION_BITS)
# before the float32 kernel, so bilinear pixels may differ from Keras' by a hundredth.
GEOMETRIC = {
    "translation(0.3, 0.2)": (
        lambda: keras.layers.RandomTranslation(0.3, 0.2),
        lambda p: {"translations": tf.stack([p[:, 1] * W, p[:, 0] * H], -1)}),
    "zoom(0.4, 0.2)": (
        lambda: keras.layers.RandomZoom(0.4, 0.2),
        lambda p: {"height_zoom": p[:, :1], "width_zoom": p[:, 1:]}),
    "shear(0.3, 0.4)": (
        lambda: keras.layers.RandomShear(0.3, 0.4),
        lambda p: {"shear_factor": p}),
    "perspective(0.6)": (
        lambda: keras.layers.RandomPerspective(scale=0.6),
        lambda p: (lambda start: {"apply_perspective": tf.ones([B], tf.bool),
                                  "start_points": start, "end_points": start + start * p,
                                  "input_shape": (B, H, W, 3)})(
            tf.cast(warps.corners(tf.constant(H, tf.float64), tf.constant(W, tf.float64)),
                    tf.float32)[None] + tf.zeros_like(p))),
}


@pytest.mark.parametrize("spec", sorted(GEOMETRIC))
def test_geometric_ops_match_keras_given_the_same_draw(spec):
    make_layer, transformation = GEOMETRIC[spec]
    images = _images()
    _, params, ours = _ours(spec, images)
    theirs = make_layer().transform_images(images, transformation(params), training=True)
    _compare(ours, theirs, mean=0.02, worst=1.0)


def test_rotation_matches_keras_given_the_same_draw():
    images = _images()
    _, turns, ours = _ours("rotation(0.2)", images)
    layer = keras.layers.RandomRotation(0.2)
    matrix = layer._compute_affine_matrix(  # Keras' own matrix from the same angles
        center_x=0.5, center_y=0.5, angle=turns * 360.0, translate_x=tf.zeros([B]),
        translate_y=tf.zeros([B]), scale=tf.ones([B]), shear_x=tf.zeros([B]),
        shear_y=tf.zeros([B]), height=H, width=W)
    theirs = layer.transform_images(images, {"rotation_matrix": matrix}, training=True)
    _compare(ours, theirs, mean=0.02, worst=1.0)


def test_flip_and_crop_match_keras_exactly():
    images = _images()
    for mode in ("horizontal", "vertical", "horizontal_and_vertical"):
        _, flip, ours = _ours(f"flip({mode!r})", images, seed=3)
        theirs = keras.layers.RandomFlip(mode).transform_images(
            images, {"flips": flip[:, None, None, None]})
        np.testing.assert_array_equal(ours, theirs)
    _, offset, cropped = _ours("crop(16, 20)", images)
    for k in range(B):  # Keras crops a batch at one offset: compare example by example
        theirs = keras.layers.RandomCrop(16, 20).transform_images(
            images[k:k + 1], (int(offset[k, 0]), int(offset[k, 1])))
        np.testing.assert_array_equal(cropped[k:k + 1], theirs)


PHOTOMETRIC = {
    "invert(0.5)": (lambda: keras.layers.RandomInvert(),
                    lambda p: {"apply_inversion": p}, 0),
    "posterization((1, 8))": (lambda: keras.layers.RandomPosterization(8),
                              lambda p: {"shift_factor": tf.cast(8 - p, tf.uint8)}, 0),
    "solarization((0, 0.5), (0.2, 0.9))": (
        lambda: keras.layers.Solarization(0.5, 0.9),
        lambda p: {"additions": p[:, :1, None, None], "thresholds": p[:, 1:, None, None]},
        1e-3),
    "equalization": (lambda: keras.layers.Equalization(), lambda p: {}, 0),
    "auto_contrast": (lambda: keras.layers.AutoContrast(), lambda p: None, 1e-3),
    "sharpness(0.9)": (lambda: keras.layers.RandomSharpness(0.9),
                       lambda p: {"factor": p}, 1e-3),
    "color_degeneration(0.8)": (lambda: keras.layers.RandomColorDegeneration(0.8),
                                lambda p: {"factor": p[:, None, None, None]}, 1e-3),
}


@pytest.mark.parametrize("spec", sorted(PHOTOMETRIC))
def test_photometric_ops_match_keras_given_the_same_draw(spec):
    make_layer, transformation, tolerance = PHOTOMETRIC[spec]
    images = _images()
    if spec.startswith("auto") or spec.startswith("equal"):
        images = images.numpy() * 0.5 + 40  # something to stretch
        images[0, ..., 1] = 77.5  # and a channel of one value, kept as it is
        images = tf.constant(images)
    _, params, ours = _ours(spec, images)
    if spec == "equalization":  # Keras pools a batch's histograms; compare one by one
        theirs = tf.concat([make_layer().transform_images(images[k:k + 1], {})
                            for k in range(B)], 0)
    else:
        theirs = make_layer().transform_images(images, transformation(params), training=True)
    _compare(ours, theirs, mean=tolerance, worst=max(tolerance * 100, tolerance))


def test_erasing_matches_keras_given_the_same_box():
    images = _images()
    op, (box, do, _), ours = _ours("erasing(p=0.7, fill_value=(10, 20, 30))", images)
    x0 = box[:, 2] * (W - box[:, 0] * W)
    y0 = box[:, 3] * (H - box[:, 1] * H)
    layer = keras.layers.RandomErasing(fill_value=(10, 20, 30))
    masks = layer._generate_batch_mask(images.shape, (x0, x0 + box[:, 0] * W,
                                                      y0, y0 + box[:, 1] * H))
    theirs = layer.transform_images(images, {
        "apply_erasing": do, "batch_masks": masks,
        "fill_value": tf.broadcast_to(tf.constant([10., 20., 30.]), images.shape)})
    np.testing.assert_array_equal(ours, theirs)


def test_mix_up_and_cut_mix_match_keras_given_the_same_draw():
    images = _images()
    labels = tf.one_hot([0, 1, 2], 3)
    op, (order, lam), _ = _ours("mix_up(0.4)", images)
    mixed, _, mixed_labels = op.apply({"image": images}, {}, {"label": labels}, (order, lam))
    layer = keras.layers.MixUp(0.4)
    keras_draw = {"mix_weight": lam, "permutation_order": order}
    _compare(mixed["image"], layer.transform_images(images, keras_draw), 1e-3, 1e-2)
    _compare(mixed_labels["label"], layer.transform_labels(labels, keras_draw), 1e-6, 1e-6)

    op, (order, lam, place), _ = _ours("cut_mix(1.0)", images)
    mixed, _, mixed_labels = op.apply({"image": images}, {}, {"label": labels},
                                      (order, lam, place))
    ratio = tf.sqrt(1 - lam)
    x0, y0 = place[:, 0] * (W - ratio * W), place[:, 1] * (H - ratio * H)
    layer = keras.layers.CutMix(1.0)
    masks, weight = layer._generate_batch_mask(images.shape, (x0, x0 + ratio * W,
                                                              y0, y0 + ratio * H))
    keras_draw = {"permutation_order": order, "batch_masks": masks, "mix_weight": weight}
    np.testing.assert_array_equal(mixed["image"], layer.transform_images(images, keras_draw))
    # Labels: the pasted box's pixel count (ours) against its real-valued area (Keras).
    _compare(mixed_labels["label"], layer.transform_labels(labels, keras_draw),
             2 / H + 2 / W, 2 / H + 2 / W)


def _mask_example(batch=4, size=32):
    """Images whose red channel is 255 exactly where the mask is 1."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    mask = np.zeros((batch, size, size, 1), np.uint8)
    for k in range(batch):
        top, left = rng.integers(2, size // 2, 2)
        mask[k, top:top + size // 3, left:left + size // 3] = 1
    image[..., 0] = np.where(mask[..., 0] == 1, 255, 0)
    return {"image": tf.constant(image), "mask": tf.constant(mask),
            "label": tf.one_hot(np.arange(batch) % 3, 3)}


def test_cut_mix_moves_masks_with_the_pixels_and_labels_by_their_share():
    example = _mask_example()
    out = augment.parse("cut_mix(1.0)", seed=5)(tf.constant(2), example)
    image, mask = out["image"].numpy(), out["mask"].numpy()
    np.testing.assert_array_equal(image[..., 0] == 255, mask[..., 0] == 1)
    assert not np.array_equal(image, example["image"])
    np.testing.assert_allclose(out["label"].numpy().sum(-1), 1.0, atol=1e-6)
    # An example's own class weighs at least the share of its pixels that stayed (a
    # partner of the same class, or itself, adds to it).
    own = (image == example["image"].numpy()).all(-1).mean((1, 2))
    labels, mixed = example["label"].numpy(), out["label"].numpy()
    for k in range(4):
        assert mixed[k, labels[k].argmax()] >= own[k] - 1e-6


def test_mixing_is_deterministic_and_refuses_what_cannot_be_mixed():
    example = _mask_example()
    first = augment.parse("flip_lr|cut_mix|invert", seed=1)(tf.constant(3), example)
    again = augment.parse("flip_lr|cut_mix|invert", seed=1)(tf.constant(3), example)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    single = {k: v[0] for k, v in example.items()}
    with pytest.raises(ValueError, match="cut_mix mixes the examples of a batch.*single"):
        augment.parse("cut_mix")(0, single)
    with pytest.raises(ValueError, match="mix_up blends masks, but 'mask' is uint8.*cut_mix"):
        augment.parse("mix_up")(0, example)
    with pytest.raises(ValueError, match="'label' is int64.*One-hot it"):
        augment.parse("cut_mix")(0, {**example, "label": tf.constant([0, 1, 2, 0], tf.int64)})
    with pytest.raises(ValueError, match="aug_mix blends several geometric.*geometric=False"):
        augment.parse("aug_mix")(0, example)
    with pytest.raises(ValueError, match="a face stream's label"):
        faces.pair_stream({"a": ["1.jpg", "2.jpg"]}, augment="mix_up")
    with pytest.raises(ValueError, match="mix_up blends masks"):  # when the stream is built
        composites.composite_stream(image_size=32, batch_size=2, augment="mix_up")
    with pytest.raises(ValueError, match="Unknown augmentation op 'cutmix'. Did you mean "
                                         "'cut_mix'"):
        augment.parse("rand_augment(2, 9)|cutmix(1.0)")
    from fastfeed import train

    with pytest.raises(train.ConfigError, match="--augment: mix_up blends masks"):
        train.make_config("composites", {"augment": "flip_lr|mix_up"}, smoke=True)
    with pytest.raises(train.ConfigError, match="--augment '.*': unknown augmentation op"):
        train.make_config("lfw", {"augment": "spin(3)", "lfw": "somewhere"}, smoke=True)


@pytest.mark.slow
def test_composite_stream_runs_mixing_ops_per_batch_reproducibly():
    def stream(parallel):
        return next(iter(composites.composite_stream(
            image_size=64, batch_size=4, seed=2, augment="flip_lr|cut_mix(1.0)|hue(0.05)",
            num_parallel_calls=parallel)))
    first, again = stream(1), stream(4)
    for key in ("image", "mask", "alpha"):
        np.testing.assert_array_equal(first[key], again[key])
    plain = next(iter(composites.composite_stream(image_size=64, batch_size=4, seed=2,
                                                  augment="flip_lr|hue(0.05)")))
    assert not np.array_equal(first["image"], plain["image"])


@pytest.mark.slow
def test_rand_augment_and_aug_mix_follow_their_conventions():
    example = _mask_example()
    out = augment.parse("rand_augment(2, 9)", seed=0)(tf.constant(1), example)
    # Masks follow the geometric ops only: red = 255 where the mask is 1 stays mostly true
    # (bilinear edges and photometric ops such as invert or solarization aside).
    assert out["image"].dtype == tf.uint8 and out["mask"].dtype == tf.uint8
    assert not np.array_equal(out["image"], example["image"])
    ops = [augment.build_op(s) for s in policies._geometric_specs(0.9)
           + policies._tone_specs(0.9) + policies._basic_specs(0.9)]
    assert [op.name for op in ops] == [
        "shear", "translation", "rotation", "brightness", "color_degeneration", "contrast",
        "sharpness", "posterization", "solarization", "auto_contrast", "equalization"]
    zero = augment.parse("rand_augment(1, 0)", seed=0)(tf.constant(1), example)
    # Magnitude 0: geometric ops are identities; tone ops near it (auto_contrast and
    # equalization have no magnitude).
    np.testing.assert_array_equal(zero["mask"], example["mask"])
    photometric = augment.parse("aug_mix(geometric=False)", seed=0)(tf.constant(1), example)
    np.testing.assert_array_equal(photometric["mask"], example["mask"])
    assert not np.array_equal(photometric["image"], example["image"])
    with pytest.raises(ValueError, match="magnitude must be a number in \\[0, 10\\]"):
        augment.parse("rand_augment(2, 11)")


def test_random_resized_crop_is_its_box_resized_in_one_warp():
    """The bilinear random_resized_crop is one warp (fused with flips and other warps):
    inside its box it gives tf.image.resize of the whole-pixel crop, to within a level;
    on the box's edge it may read the pixel beyond, where resize repeats the edge."""
    images = tf.cast(_images(), tf.uint8)
    op = augment.build_op("random_resized_crop((20, 16), scale=(0.2, 0.9))")
    boxes = op.sample(tf.constant([4, 2], tf.int64), tf.shape(images)[1:], tf.shape(images)[:1])
    out = op.apply(images, boxes, False)
    for image, box, got in zip(images, boxes.numpy(), out):
        top, left, height, width = box
        want = tf.image.resize(image[top:top + height, left:left + width], (20, 16))
        difference = np.abs(got.numpy().astype(float) - want.numpy())[1:-1, 1:-1]
        assert difference.max() <= 1, box
    flipped = augment.parse("flip_lr(p=1.0)|random_resized_crop((20, 16), scale=(0.2, 0.9))")
    assert len(_stages_of(flipped)) == 1


def _stages_of(fn):
    from fastfeed.compose.augment import pipeline
    return pipeline._stages(list(enumerate(fn.ops)), jit=True)


def test_rand_augment_is_its_chosen_ops_one_after_another_in_8_bits():
    """Each example applies its chosen ops in order, rounded to 8 bits after each (as
    the paper's PIL implementation), each op on the example alone."""
    example = _mask_example(batch=1)
    image = example["image"][0]
    rand_augment = augment.build_op("rand_augment(2, 9)")
    ops = [augment.build_op(s) for s in policies._geometric_specs(0.9)
           + policies._tone_specs(0.9) + policies._basic_specs(0.9)]
    seen = set()
    for seed in range(12):
        params = rand_augment.sample(tf.constant([seed, 5], tf.int64), tf.shape(image),
                                     tf.constant([], tf.int32))
        choices, slot_seeds, shape = params  # one example: the chosen ops draw later
        want = image
        for slot in range(2):
            number = int(choices[slot])
            op = ops[number]
            seen.add(op.kind)
            draw = op.sample(registry.seeds(slot_seeds[slot], len(ops))[number], shape,
                             tf.constant([], tf.int32))
            out = op.apply(tf.cast(want, tf.float32) if op.kind == augment.PHOTOMETRIC
                           else want, draw, False)
            want = tf.saturate_cast(tf.round(tf.cast(out, tf.float32)), tf.uint8)
        got = rand_augment.apply(image, params, False)
        assert got.dtype == tf.uint8
        difference = np.abs(got.numpy().astype(int) - want.numpy().astype(int))
        assert difference.max() <= 1 and difference.mean() < 0.01, (seed, choices)
    assert seen == {augment.GEOMETRIC, augment.PHOTOMETRIC}


def test_every_keras_augmentation_layer_has_an_op():
    """Keras 3's augmentation layers (not Resizing, CenterCrop, MaxNumBoundingBoxes or
    CLAHE, which are not random augmentations) each have a registry op of the Keras
    name, snake case, without Random."""
    base = keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer
    layers = [n for n in dir(keras.layers) if isinstance(getattr(keras.layers, n), type)
              and issubclass(getattr(keras.layers, n), base.BaseImagePreprocessingLayer)]
    skip = {"Resizing", "CenterCrop", "MaxNumBoundingBoxes",
            "ContrastLimitedAdaptiveHistogramEqualization"}
    names = {"AugMix": "aug_mix", "CutMix": "cut_mix", "MixUp": "mix_up",
             "RandAugment": "rand_augment"}

    def snake(name):
        name = name.removeprefix("Random")
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    wanted = {names.get(n, snake(n)) for n in layers if n not in skip}
    assert len(wanted) >= 27
    assert wanted <= set(augment.REGISTRY), wanted - set(augment.REGISTRY)


def test_projective_ops_in_a_row_are_one_resampling():
    from fastfeed.compose.augment import pipeline

    spec = "flip_lr|rotation(0.05)|zoom(0.2)|translation(0.1, 0.1)|shear(0.1, fill_mode='constant')"
    stages = pipeline._stages(list(enumerate(augment.build_op(t) for t in spec.split("|"))),
                              jit=True)
    assert [[op.name for _, op in members] for members, _ in stages] == [
        ["flip_lr", "rotation", "zoom", "translation"], ["shear"]]  # shear fills apart
    images = _images()
    fn = augment.parse(spec, seed=0)
    fused = fn(tf.constant(3), {"image": images})["image"]
    one_by_one = images
    for op, params in zip(fn.ops, fn.draws(tf.constant(3), 0, tf.shape(images)[1:],
                                           tf.shape(images)[:1])):
        one_by_one = op.apply(one_by_one, params, False)
    # The same geometry; one interpolation instead of four blurs a little less.
    inner = np.abs(fused.numpy() - one_by_one.numpy())[:, 4:-4, 4:-4]
    assert inner.mean() < 3


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
def test_affine_warps_in_integers_give_the_float64_bits(fill_mode):
    """8-bit images and masks under an affine transform take integer coordinates
    (int32 sums where they fit, int64 for the example reaching 9e5 px away with a
    constant or nearest fill): the same pixels as the float64 coordinates, for static
    and unknown shapes."""
    from fastfeed.compose.augment import geometric

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 20, 28, 3), dtype=np.uint8)
    angle, scale = rng.uniform(-0.6, 0.6, 4), rng.uniform(0.5, 1.6, 4)
    transform = np.stack([scale * np.cos(angle), -scale * np.sin(angle),
                          [-3.3, 17.9, 2e4 + 0.7, -9e5], scale * np.sin(angle),
                          scale * np.cos(angle), [5.1, -40.2, -1e4, 3e5],
                          np.zeros(4), np.zeros(4)], -1)
    transform = tf.constant(np.round(transform * 2**16) / 2**16)
    for nearest in (False, True):
        want = geometric._resample_projective(tf.constant(images), transform, (16, 24),
                                              nearest, fill_mode, 9.0)
        got = geometric._resample(tf.constant(images), transform, (16, 24), nearest,
                                  fill_mode, 9.0, affine=True)
        assert got.dtype == tf.uint8
        np.testing.assert_array_equal(got.numpy(), tf.cast(want, tf.uint8).numpy())
        unknown = tf.function(lambda x: geometric._resample(
            x, transform, (16, 24), nearest, fill_mode, 9.0, affine=True),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
        np.testing.assert_array_equal(unknown(images).numpy(), got.numpy())


@pytest.mark.slow
def test_new_ops_give_the_same_bits_under_parallel_map():
    spec = ("flip|crop(24, 24)|rotation(0.1)|zoom(0.2)|translation(0.1, 0.1)|"
            "perspective(0.3)|elastic_transform(0.5)|rand_augment(2, 9)|erasing(p=1.0)|"
            "equalization|sharpness|solarization|aug_mix(geometric=False)")
    examples = tf.data.Dataset.from_tensor_slices(
        {k: v for k, v in _mask_example(batch=8).items() if k != "label"})

    def run(parallel):
        fn = augment.parse(spec, seed=3)
        return [e for e in examples.enumerate().map(fn, num_parallel_calls=parallel)]
    first, again = run(1), run(4)
    for a, b in zip(first, again):
        for key in ("image", "mask"):
            np.testing.assert_array_equal(a[key], b[key])
    assert len({e["image"].numpy().tobytes() for e in first}) == 8
