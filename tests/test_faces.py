"""The LFW pair stream: sampling, identities, exclusion, determinism, errors."""

import logging
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

import fake_lfw
from fastfeed import lfw
from fastfeed.compose import augment, faces
from fastfeed.compose.feed import Feed

CROP_FLIP = "flip_lr|random_resized_crop(16, scale=(0.75, 1.0), method='nearest')"
# Person p's image k is a flat colour: red encodes the person, green the image.
COUNTS = {"Ann": 3, "Ben": 1, "Cat": 2, "Dov": 4, "Eli": 1}


def _identity(images):
    """(person id, image id) of each flat-colour image in a uint8 batch."""
    centre = images[:, images.shape[1] // 2, images.shape[2] // 2].astype(int)
    return np.round((centre[:, 0] - 20) / 40).astype(int), np.round(
        (centre[:, 1] - 20) / 40).astype(int)


@pytest.fixture
def people(tmp_path):
    for p, (name, count) in enumerate(sorted(COUNTS.items())):
        folder = tmp_path / "lfw" / name
        folder.mkdir(parents=True)
        for k in range(count):
            image = np.zeros((40, 40, 3), np.uint8)
            image[:] = (128, 40 * k + 20, 40 * p + 20)  # BGR
            cv2.imwrite(str(folder / f"{name}_{k + 1:04d}.jpg"), image)
    return lfw.people_from_dir(tmp_path / "lfw")


def _take(stream, batches=3):
    return [(x["image1"].numpy(), x["image2"].numpy(), y.numpy())
            for x, y in stream.take(batches)]


def test_people_from_dir_and_archive(tmp_path, people):
    assert list(people) == sorted(COUNTS)
    assert [os.path.basename(p) for p in people["Dov"]] == [
        f"Dov_{k:04d}.jpg" for k in range(1, 5)]
    archive = fake_lfw.write_archive(str(tmp_path / "lfw.tgz"), "lfw")
    from_archive = lfw.people_from_dir(archive, extract_dir=str(tmp_path / "x"))
    assert {p: len(v) for p, v in from_archive.items()} == fake_lfw.PEOPLE
    with pytest.raises(ValueError, match="No person folders"):
        lfw.people_from_dir(tmp_path / "x" / "lfw" / "Dan_Diaz")


@pytest.mark.parametrize("fraction", [0.5, 0.3])
def test_sampling_identities_and_balance(fraction):
    index = faces.PeopleIndex.build({p: [f"{p}{k}" for k in range(n)]
                                     for p, n in COUNTS.items()})
    person_of = np.repeat(np.arange(len(index.names)), index.counts)
    labels = []
    for b in range(8):
        i1, i2, label = (t.numpy() for t in faces.sample_pair_indices(
            tf.constant([3, b], tf.int64), 512, index.offsets, index.counts, fraction))
        same = person_of[i1] == person_of[i2]
        np.testing.assert_array_equal(same, label == 1)
        assert (i1 != i2).all()  # never the same image twice
        positives = person_of[i1[label == 1]]
        assert (index.counts[positives] >= 2).all()  # one-image people: never positive
        labels.append(label)
    assert abs(np.concatenate(labels).mean() - fraction) < 0.03


def test_stream_pairs_match_labels_and_exclude(people):
    stream = faces.pair_stream(people, image_size=16, batch_size=256, seed=5,
                               exclude=["Dov"])
    names = sorted(COUNTS)
    for image1, image2, label in _take(stream, 4):
        assert image1.shape == (256, 16, 16, 3) and image1.dtype == np.uint8
        (p1, k1), (p2, k2) = _identity(image1), _identity(image2)
        np.testing.assert_array_equal(p1 == p2, label == 1)
        assert not ((p1 == p2) & (k1 == k2)).any()
        assert names.index("Dov") not in set(p1) | set(p2)
        assert names.index("Ben") not in set(p1[label == 1])  # one image: no positive


@pytest.mark.slow
def test_same_seed_same_stream_whatever_the_parallelism(people):
    def stream(seed, parallel, augment=CROP_FLIP + "|color_jitter"):
        return _take(faces.pair_stream(people, image_size=16, batch_size=32, seed=seed,
                                       augment=augment, num_parallel_calls=parallel))

    first = stream(1, 1)
    for a, b in zip(first, stream(1, 4)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    other = stream(2, 4)
    assert not all(np.array_equal(x, y) for x, y in zip(first[0], other[0]))


def test_augment_keeps_identity_and_draws_independently(people):
    stream = faces.pair_stream(people, image_size=16, batch_size=64, seed=0,
                               augment=CROP_FLIP + "|color_jitter", dtype=tf.float32)
    (x, y), = stream.take(1)
    assert x["image1"].dtype == tf.float32
    assert 0.0 <= tf.reduce_min(x["image1"]) and tf.reduce_max(x["image1"]) <= 1.0
    # Jitter factors differ between image1 and image2 of a same-person pair.
    same = y.numpy() == 1
    assert not np.allclose(x["image1"].numpy()[same], x["image2"].numpy()[same])


def test_uncached_stream_gives_the_same_identities(people):
    stream = faces.pair_stream(people, image_size=16, batch_size=64, cache=False)
    for image1, image2, label in _take(stream, 2):
        np.testing.assert_array_equal(
            _identity(image1)[0] == _identity(image2)[0], label == 1)


@pytest.mark.parametrize("cache", [True, False])
def test_bad_image_is_skipped_and_reported(people, caplog, cache):
    bad = people["Dov"][0]
    with open(bad, "wb") as f:
        f.write(b"\xff\xd8 truncated")
    with caplog.at_level(logging.WARNING, logger="fastfeed.compose.faces"):
        stream = faces.pair_stream(people, image_size=16, batch_size=64, cache=cache)
    assert "Skipped 1 unreadable image(s) of 11" in caplog.text and bad in caplog.text
    for image1, image2, _ in _take(stream, 4):  # never the bad image, never an error
        assert (image1.reshape(64, -1).max(axis=1) > 0).all()  # no blank rows


def test_clear_errors(people):
    with pytest.raises(ValueError, match="at least two people"):
        faces.pair_stream({"Ann": people["Ann"]})
    no_multi = {"Ben": people["Ben"], "Eli": people["Eli"]}
    with pytest.raises(ValueError, match="No person has two or more images"):
        faces.pair_stream(no_multi)
    faces.pair_stream(no_multi, image_size=16, positive_fraction=0.0)  # fine
    with pytest.raises(ValueError, match="Unknown augment 'spin'.*flip_lr"):
        faces.pair_stream(people, augment="spin")
    with pytest.raises(ValueError, match="Unknown augment 'crop_flip'"):
        faces.pair_stream(people, augment="crop_flip")  # the old pair-only names are gone
    with pytest.raises(ValueError, match="positive_fraction=1.5"):
        faces.pair_stream(people, positive_fraction=1.5)
    with pytest.raises(MemoryError, match="cache=False"):
        faces.pair_stream(people, image_size=16, max_cache_bytes=100)


def test_people_in_protocol_files(tmp_path):
    fake_lfw.write_protocol(str(tmp_path))
    lines = fake_lfw.protocol_lines()
    for names in (["pairsDevTest.txt"], ["pairsDevTest.txt", "pairs.txt"]):
        expected = {field for name in names for line in lines[name][1:]
                    for field in line.split("\t") if not field.isdigit()}
        found = lfw.people_in_protocol_files([tmp_path / name for name in names])
        assert found == expected and len(found) >= 2


def test_sampler_alone_draws_indices_only():
    sampler = faces.PairSampler(np.array([0, 3, 4], np.int32), np.array([3, 1, 2], np.int32))
    index1, index2, label = sampler.sample(tf.constant([1, 2], tf.int64), 32)
    again = sampler.sample(tf.constant([1, 2], tf.int64), 32)
    np.testing.assert_array_equal(index1, again[0])
    assert index1.dtype == tf.int32 and label.shape == (32,)
    assert ((index1.numpy() >= 0) & (index1.numpy() < 6)).all()


@pytest.mark.slow
def test_nearest_crop_and_flip_read_the_table_like_the_whole_faces(noise_people):
    """The stream reads a leading run of nearest geometric ops straight from its
    table; the pixels equal gathering whole faces, then running the pipeline."""
    spec = CROP_FLIP + "|flip_ud|random_crop(12)|color_jitter"
    fused = _take(faces.pair_stream(noise_people, image_size=16, batch_size=32, seed=3,
                                    augment=spec), 2)
    pipeline = augment.parse(spec, seed=3, image_keys=("image1", "image2"), mask_keys=(),
                             independent=True)
    assert pipeline.grid_prefix == 4
    whole = faces.pair_stream(noise_people, image_size=16, batch_size=32, seed=3,
                              augment=lambda index, example: pipeline(index, example))
    for a, b in zip(fused, _take(whole, 2)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert fused[0][0].shape == (32, 12, 12, 3)
    plain = _take(faces.pair_stream(noise_people, image_size=16, batch_size=32, seed=3), 1)
    assert not np.array_equal(fused[0][0][:, :12, :12], plain[0][0][:, :12, :12])


def test_table_grid_geometry():
    """Output pixels read whole source pixels of their own image, rows and columns in
    order (mirrored where flipped)."""
    pipeline = augment.parse("flip_lr|random_resized_crop(6, scale=(0.3, 0.3), "
                             "method='nearest')", image_keys=("image",), mask_keys=())
    rows, cols = (t.numpy() for t in pipeline.table_grid(tf.constant(0), 0, 10, 12, 8))
    assert rows.shape == (8, 6) and cols.shape == (8, 6)
    assert (np.diff(rows, axis=1) >= 0).all() and rows.max() < 10 and rows.min() >= 0
    steps = np.diff(cols, axis=1)
    assert all((row >= 0).all() or (row <= 0).all() for row in steps)
    assert (steps < 0).any() and (steps > 0).any()  # some flipped, some not
    assert len({tuple(r) for r in rows}) > 1  # examples draw apart


def test_available_memory_counts_reclaimable_cache():
    """MemAvailable (free + reclaimable page cache), not MemFree: on a machine that has
    read files, MemFree alone can raise a spurious MemoryError."""
    fields = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    available = int(fields["MemAvailable"].split()[0]) * 1024
    assert abs(faces.available_memory() - available) < 256 * 2**20  # moves a little


# ------------------------------------------------------------------ identity batches
def test_identity_indices_distinct_people_and_images():
    counts = np.array([3, 1, 2, 6, 4], np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
    for s in range(20):
        indices, person = faces.sample_identity_indices(
            tf.constant([s, 1], tf.int64), 3, 3, offsets, counts, int(counts.max()))
        indices, person = indices.numpy().reshape(3, 3), person.numpy().reshape(3, 3)
        assert (person == person[:, :1]).all()
        assert len(set(person[:, 0])) == 3 and 1 not in person[:, 0]  # >= 2 images only
        for p, images in zip(person[:, 0], indices):
            assert ((images >= offsets[p]) & (images < offsets[p] + counts[p])).all()
            # distinct where the person has K or more, all of theirs otherwise
            assert len(set(images)) == min(3, counts[p])


def test_identity_batches_labels_exclude_seed_and_start(people):
    stream = faces.identity_batches(people, people_per_batch=2, images_per_person=3,
                                    image_size=16, seed=4, exclude={"Cat"},
                                    augment=CROP_FLIP, num_parallel_calls=1)
    names = faces.PeopleIndex.build(people, {"Cat"}).names
    batches = [(x["image"].numpy(), y.numpy()) for x, y in stream.take(4)]
    for images, labels in batches:
        assert images.shape == (6, 16, 16, 3) and images.dtype == np.uint8
        person, _ = _identity(images)
        assert [sorted(COUNTS)[p] for p in person] == [names[k] for k in labels]
        assert "Cat" not in {names[k] for k in labels}
    again = faces.identity_batches(people, people_per_batch=2, images_per_person=3,
                                   image_size=16, seed=4, exclude={"Cat"},
                                   augment=CROP_FLIP, feed=Feed(start=2))
    for (images, labels), (x, y) in zip(batches[2:], again.take(2)):
        np.testing.assert_array_equal(images, x["image"].numpy())
        np.testing.assert_array_equal(labels, y.numpy())


def test_shared_faces_serve_several_excludes(people):
    decoded = faces.decode_faces(people, 16)
    for exclude in ({"Ann"}, {"Dov"}):
        stream = faces.identity_batches(decoded, people_per_batch=2, images_per_person=2,
                                        exclude=exclude, seed=1)
        names = decoded.index.subset(exclude).names
        for x, y in stream.take(3):
            person, _ = _identity(x["image"].numpy())
            assert not {sorted(COUNTS)[p] for p in person} & exclude
            assert [sorted(COUNTS)[p] for p in person] == [names[k] for k in y.numpy()]
    x, y = next(iter(faces.pair_stream(decoded, batch_size=8, exclude={"Ann"}, seed=2)))
    assert x["image1"].shape == (8, 16, 16, 3)


def test_identity_batches_clear_errors(people):
    with pytest.raises(ValueError, match="only 3 people have two or more"):
        faces.identity_batches(people, people_per_batch=4, image_size=16)
    with pytest.raises(ValueError, match="images_per_person >= 2"):
        faces.identity_batches(people, images_per_person=1, image_size=16)


def test_central_crop_keeps_the_middle(tmp_path):
    image = np.zeros((100, 100, 3), np.uint8)
    image[25:75, 25:75] = 255  # white centre square on black
    path = str(tmp_path / "square.png")
    cv2.imwrite(path, image)
    table, bad = faces.decode_all([path], 10, central=0.5)
    assert not bad and table[0].min() > 250
