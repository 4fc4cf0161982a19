"""Composite assets and stream: masks, shadow, determinism, folder input, bad files."""

import dataclasses
import logging

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from fastfeed.compose import composites
from fastfeed.compose.composites import folders, procedural, render

FLAT = composites.Recipe(rotation_degrees=0.0, scale_range=(0.5, 0.5), max_truncation=0.0,
                        colour_match_range=(0.0, 0.0), brightness_range=(1.0, 1.0),
                        shadow_probability=0.0, edge_probabilities=(1.0, 0.0, 0.0))


def _take(stream, batches=1):
    return [{k: v.numpy() for k, v in batch.items()} for batch in stream.take(batches)]


def test_procedural_assets_are_seeded_and_varied():
    first = procedural.procedural_objects(count=6, seed=3, size=48)
    again = procedural.procedural_objects(count=6, seed=3, size=48)
    assert [n for n, _ in first] == [f"{k}_{i:03d}" for i, k in enumerate(procedural.OBJECT_KINDS)]
    for (_, a), (_, b) in zip(first, again):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.uint8 and a.shape[2] == 4
        alpha = a[..., 3]
        assert alpha.max() == 255 and alpha.min() == 0  # cut out, with a solid body
        assert ((alpha > 0) & (alpha < 255)).any()  # soft edges / shadow
        assert a[alpha == 255][:, :3].std() > 10  # shaded, not flat
    other = procedural.procedural_objects(count=1, seed=4, size=48)[0][1]
    assert not np.array_equal(other, first[0][1])
    backgrounds = procedural.procedural_backgrounds(count=8, seed=0, size=40)
    assert [n.split("_")[0] for n, _ in backgrounds] == list(procedural.BACKGROUND_KINDS)
    assert all(b.shape == (40, 40, 3) and b.std() > 2 for _, b in backgrounds)


@pytest.mark.slow
def test_stream_shapes_ranges_and_mask_is_thresholded_alpha():
    batch, = _take(composites.composite_stream(image_size=48, batch_size=6, seed=1))
    assert batch["image"].shape == (6, 48, 48, 3) and batch["image"].dtype == np.uint8
    assert batch["mask"].shape == batch["alpha"].shape == (6, 48, 48, 1)
    np.testing.assert_array_equal(batch["mask"], (batch["alpha"] >= 128).astype(np.uint8))
    assert set(np.unique(batch["mask"])) <= {0, 1}
    assert (batch["mask"].reshape(6, -1).sum(axis=1) > 0).all()  # an object in each
    floats, = _take(composites.composite_stream(image_size=48, batch_size=6, seed=1,
                                               dtype=tf.float32))
    np.testing.assert_allclose(floats["image"], batch["image"] / 255.0, atol=1e-6)


@pytest.mark.slow
def test_same_seed_same_examples_whatever_the_parallelism():
    def take(seed, parallel, batch_size=4):
        stream = composites.composite_stream(image_size=40, batch_size=batch_size, seed=seed,
                                            num_parallel_calls=parallel)
        return np.concatenate([b["image"] for b in _take(stream, 2)])

    first = take(7, 1)
    np.testing.assert_array_equal(first, take(7, 4))
    np.testing.assert_array_equal(first[:4], take(7, 4, batch_size=2)[:4])  # per example
    assert not np.array_equal(first, take(8, 4))


def test_mask_is_exactly_where_a_known_object_lands():
    """An opaque 20x20 red square, scaled x1.2 to 24 px, no rotation, on flat grey."""
    red = np.zeros((20, 20, 4), np.uint8)
    red[...] = (255, 0, 0, 255)
    grey = np.full((48, 48, 3), 90, np.uint8)
    stream = composites.composite_stream([("red", red)], [("grey", grey)], image_size=48,
                                        batch_size=8, seed=2, recipe=FLAT)
    batch, = _take(stream)
    for image, mask, alpha in zip(batch["image"], batch["mask"][..., 0], batch["alpha"][..., 0]):
        # Bilinear sampling of an axis-aligned square: alpha is (row coverage) x
        # (column coverage), and the mask is that thresholded, corners included.
        rows, cols = alpha.max(axis=1) / 255, alpha.max(axis=0) / 255
        np.testing.assert_allclose(alpha, np.outer(rows, cols) * 255, atol=1.0)
        assert 23 <= (rows > 0.5).sum() <= 25 and 23 <= (cols > 0.5).sum() <= 25
        for coverage in (rows, cols):  # one solid run (it may touch the border)
            run = np.flatnonzero(coverage > 0)
            assert run[-1] - run[0] + 1 == len(run)
        np.testing.assert_array_equal(mask, alpha >= 128)
        inside = alpha == 255
        assert (image[inside] == (255, 0, 0)).all()
        assert (image[alpha == 0] == 90).all()  # untouched background


def test_shadow_darkens_the_background_and_never_enters_the_mask():
    red = np.zeros((20, 20, 4), np.uint8)
    red[...] = (255, 0, 0, 255)
    grey = np.full((48, 48, 3), 200, np.uint8)

    def batch(recipe):
        return _take(composites.composite_stream([("red", red)], [("grey", grey)],
                                                image_size=48, batch_size=8, seed=5,
                                                recipe=recipe))[0]

    plain = batch(FLAT)
    shadowed = batch(dataclasses.replace(FLAT, shadow_probability=1.0,
                                         shadow_strength_range=(0.6, 0.6)))
    np.testing.assert_array_equal(plain["mask"], shadowed["mask"])
    np.testing.assert_array_equal(plain["alpha"], shadowed["alpha"])
    outside = plain["alpha"][..., 0] == 0
    assert (shadowed["image"][outside] <= plain["image"][outside]).all()
    assert (shadowed["image"][outside] < 150).any()


@pytest.mark.slow
def test_edge_treatments_keep_the_labels():
    base = dataclasses.replace(composites.Recipe(), shadow_probability=0.0)
    labels = []
    for probabilities in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
        recipe = dataclasses.replace(base, edge_probabilities=probabilities)
        batch, = _take(composites.composite_stream(image_size=40, batch_size=4, seed=9,
                                                  recipe=recipe))
        labels.append(batch)
    for other in labels[1:]:
        np.testing.assert_array_equal(labels[0]["alpha"], other["alpha"])
        assert not np.array_equal(labels[0]["image"], other["image"])


def test_example_eager_equals_dataset_map():
    compositor = composites.make_compositor(image_size=40)
    seed = tf.constant([3, 4], tf.int64)
    eager = compositor.example(seed)
    mapped = next(iter(tf.data.Dataset.from_tensors(seed).map(compositor.example)))
    for key in ("image", "mask", "alpha", "object_index"):
        np.testing.assert_array_equal(eager[key].numpy(), mapped[key].numpy())


def test_pure_blend_and_placement():
    colour = tf.fill([2, 2, 3], 100.0)
    alpha = tf.constant([[[1.0], [0.5]], [[0.0], [0.5]]])
    colour = colour * alpha
    background = tf.fill([2, 2, 3], 200.0)
    out = render.blend_region(colour, alpha, background).numpy()
    np.testing.assert_allclose(out[..., 0], [[100, 150], [200, 150]])
    placement = render.place_object(10, 20, 64, tf.constant(0.5), tf.constant(0.0),
                                       tf.constant(False), tf.constant(32.0),
                                       tf.constant(32.0), margin=0)
    assert (placement.bottom - placement.top).numpy() == 16  # 10 px * 1.6
    assert (placement.right - placement.left).numpy() == 32
    t = placement.transform.numpy()
    x, y = 32 - placement.left.numpy(), 32 - placement.top.numpy()  # canvas centre
    np.testing.assert_allclose([t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]],
                               [9.5, 4.5], atol=1e-5)  # -> object centre


def test_folder_stream_runs(product_folders):
    objects, backgrounds = product_folders
    batch, = _take(composites.composite_stream(str(objects), str(backgrounds), image_size=40,
                                              batch_size=4))
    assert batch["image"].shape == (4, 40, 40, 3)  # 32 px backgrounds were scaled up


def _save(path, array, mode=None, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **kwargs) if mode else Image.fromarray(
        array).save(path, **kwargs)


def test_bad_objects_are_skipped_converted_and_reported(product_folders, caplog):
    objects, _ = product_folders
    rgba = np.zeros((12, 12, 4), np.uint8)
    _save(objects / "rgb_only.png", np.full((12, 12, 3), 128, np.uint8))
    rgba[..., 3] = 255
    _save(objects / "opaque.png", rgba.copy())
    rgba[..., 3] = 0
    _save(objects / "empty.png", rgba.copy())
    (objects / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    good = Image.open(objects / "disc.png")
    good.convert("LA").save(objects / "gray_alpha.png")
    palette = Image.fromarray((np.asarray(good)[..., 3] > 0).astype(np.uint8), "P")
    palette.putpalette([0, 0, 0, 200, 40, 40])
    palette.save(objects / "palette.png", transparency=0)
    good.save(objects / "lossless.webp", lossless=True)
    with caplog.at_level(logging.WARNING, logger="fastfeed.compose.composites.folders"):
        loaded, report = folders.load_objects(objects, longest_side=24)
    names = [n for n, _ in loaded]
    assert names == ["disc.png", "gray_alpha.png", "kitchen/box.png", "lossless.webp",
                     "palette.png"]
    assert all(max(a.shape[:2]) == 24 for _, a in loaded)
    reasons = dict(report.skipped)
    assert set(reasons) == {"broken.png", "empty.png", "opaque.png", "rgb_only.png"}
    assert "no alpha" in reasons["rgb_only.png"] and "opaque" in reasons["opaque.png"]
    assert "transparent" in reasons["empty.png"] and "unreadable" in reasons["broken.png"]
    assert {why for _, why in report.converted} == {"grayscale", "palette"}
    assert "4 skipped" in caplog.text and "broken.png" in caplog.text


def test_backgrounds_converted_and_errors(product_folders, tmp_path):
    _, backgrounds = product_folders
    _save(backgrounds / "cmyk.jpg", np.full((40, 40, 4), 60, np.uint8), "CMYK")
    _save(backgrounds / "deep" / "gray16.png", np.full((40, 40), 40000, np.uint16))
    _save(backgrounds / "tiny.png", np.full((8, 8, 3), 10, np.uint8))
    loaded, report = folders.load_backgrounds(backgrounds, image_size=24)
    names = dict(loaded)
    assert set(names) == {"cmyk.jpg", "deep/gray16.png", "floor0.jpg", "floor1.jpg", "tiny.png"}
    assert abs(int(names["deep/gray16.png"].mean()) - 40000 * 255 // 65535) <= 1
    assert min(names["tiny.png"].shape[:2]) == 24  # scaled up: every crop is full
    assert {why for _, why in report.converted} == {"CMYK", "16-bit"}
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(folders.AssetError, match="nothing.*holds no"):
        folders.load_backgrounds(empty)
    with pytest.raises(folders.AssetError, match="does not exist"):
        folders.load_objects(tmp_path / "missing")
    only_bad = tmp_path / "bad"
    _save(only_bad / "flat.png", np.full((8, 8, 3), 1, np.uint8))
    with pytest.raises(folders.AssetError, match="No usable cut-out.*flat.png"):
        folders.load_objects(only_bad)


def test_escaping_link_is_skipped(product_folders, tmp_path):
    objects, _ = product_folders
    outside = tmp_path / "secret.png"
    Image.open(objects / "disc.png").save(outside)
    (objects / "link.png").symlink_to(outside)
    loaded, report = folders.load_objects(objects)
    assert "link.png" not in dict(loaded)
    assert "outside" in dict(report.skipped)["link.png"]


@pytest.fixture
def varied_folders(tmp_path):
    """Cut-outs and photos of varied sizes with odd widths (the folder case where the
    warp's last bits used to depend on scheduling)."""
    rng = np.random.default_rng(1)
    objects, backgrounds = tmp_path / "objects", tmp_path / "backgrounds"
    for k, (height, width) in enumerate([(257, 203), (101, 67), (233, 319), (75, 181)]):
        rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        yy, xx = np.mgrid[0:height, 0:width]
        inside = ((yy - height / 2) / (height / 2)) ** 2 + ((xx - width / 2) / (width / 2)) ** 2
        rgba[..., 3] = np.clip((1.0 - inside) * 600, 0, 255).astype(np.uint8)
        _save(objects / f"object{k}.png", rgba)
    for k, (height, width) in enumerate([(301, 257), (263, 389)]):
        _save(backgrounds / f"photo{k}.jpg",
              rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return str(objects), str(backgrounds)


@pytest.mark.slow
def test_folder_examples_are_the_same_bits_however_they_are_run(varied_folders):
    """Eager, tf.function and a parallel tf.data map give the same bits for every
    example (the bilinear warp used to differ in its last bits between them)."""
    compositor = composites.make_compositor(*varied_folders, image_size=256)
    seeds = [tf.constant([7, i], tf.int64) for i in range(24)]
    graph = tf.function(compositor.example)
    mapped = list(tf.data.Dataset.from_tensor_slices(tf.stack(seeds)).map(
        compositor.example, num_parallel_calls=4).as_numpy_iterator())
    for seed, in_map in zip(seeds, mapped):
        eager, in_graph = compositor.example(seed), graph(seed)
        for key in ("image", "alpha"):
            np.testing.assert_array_equal(eager[key].numpy(), in_graph[key].numpy())
            np.testing.assert_array_equal(eager[key].numpy(), in_map[key])


def test_cmyk_colours_exif_orientation_and_the_pixel_limit(tmp_path, caplog):
    backgrounds = tmp_path / "backgrounds"
    cmyk = np.zeros((40, 40, 4), np.uint8)
    cmyk[:20] = (0, 255, 255, 0)  # red
    cmyk[20:] = (255, 0, 255, 0)  # green
    _save(backgrounds / "cmyk.jpg", cmyk, "CMYK", quality=95)
    tall = np.zeros((20, 40, 3), np.uint8)
    tall[:, :20] = 255  # left half white, before the rotation
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    _save(backgrounds / "portrait.jpg", tall, exif=exif.tobytes(), quality=95)
    huge = backgrounds / "huge.png"
    Image.new("L", (7000, 6000)).save(huge)  # 42 megapixels, over a 40 MP limit
    with caplog.at_level(logging.WARNING, logger="fastfeed.compose.composites.folders"):
        loaded, report = folders.load_backgrounds(backgrounds, image_size=40,
                                                  max_pixels=40_000_000)
    images = dict(loaded)
    red, green = images["cmyk.jpg"][5, 20], images["cmyk.jpg"][35, 20]
    np.testing.assert_allclose(red, (255, 0, 0), atol=12)
    np.testing.assert_allclose(green, (0, 255, 0), atol=12)
    portrait = images["portrait.jpg"]
    assert portrait.shape[0] > portrait.shape[1]  # upright: taller than wide
    assert portrait[: portrait.shape[0] // 3].mean() > 200  # white half on top
    assert "huge.png" not in images
    assert ("huge.png: 7000x6000 is 42,000,000 pixels, over the limit of 40,000,000"
            in dict(report.skipped)["huge.png"])
    objects = tmp_path / "objects"
    rgba = np.zeros((10, 30, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, :2, 3] = 0  # a transparent strip on the left
    _save(objects / "sideways.png", rgba, exif=exif.tobytes())
    (name, cutout), = folders.load_objects(objects, longest_side=30)[0]
    assert cutout.shape[0] == 30 and cutout.shape[1] < 15  # upright: tall


@pytest.mark.slow
def test_scene_recipe_changes_the_background_never_the_mask():
    scene = dataclasses.replace(composites.Recipe(), distractors=3, layer_probability=1.0,
                                defocus_probability=1.0)
    plain, busy = (_take(composites.composite_stream(image_size=64, batch_size=6, seed=5,
                                                    recipe=r))[0]
                   for r in (composites.Recipe(), scene))
    # Same seed: the same product at the same place; distractors, a second layer
    # and defocus only change the pixels around it.
    np.testing.assert_array_equal(plain["mask"], busy["mask"])
    np.testing.assert_array_equal(plain["alpha"], busy["alpha"])
    outside = np.broadcast_to(plain["alpha"] == 0, plain["image"].shape)
    assert np.abs(plain["image"].astype(int) - busy["image"])[outside].mean() > 5
    again = _take(composites.composite_stream(image_size=64, batch_size=6, seed=5,
                                             recipe=scene, num_parallel_calls=1))[0]
    np.testing.assert_array_equal(busy["image"], again["image"])


@pytest.mark.slow
def test_parse_mix_and_weighted_sources():
    assert composites.parse_mix("procedural, a/b:2,c:0.5") == {
        "procedural": 1.0, "a/b": 2.0, "c": 0.5}
    for bad in ("", "a:0", ":2"):
        with pytest.raises(ValueError, match="SOURCE|names no source"):
            composites.parse_mix(bad)
    red = [("red", np.dstack([np.full((8, 8, 3), (255, 0, 0), np.uint8),
                              np.full((8, 8), 255, np.uint8)]))]
    blue = [("blue", np.dstack([np.full((8, 8, 3), (0, 0, 255), np.uint8),
                                np.full((8, 8), 255, np.uint8)]))] * 3
    compositor = composites.make_compositor({"procedural": 1.0}, "procedural", image_size=32)
    assert compositor.objects.cdf is not None
    # Weights 1:4 between a one-image and a three-image source: one pick in five is red.
    table = composites.AssetTable.pack(red + blue, weights=[1.0] + [4.0 / 3] * 3)
    picks = [int(table.pick(tf.constant(u, tf.float64)))
             for u in (np.arange(1000) + 0.5) / 1000]
    assert picks.count(0) == 200 and set(picks) == {0, 1, 2, 3}
