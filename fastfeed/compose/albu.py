"""The albumentations bridge: run an albumentations pipeline inside tf.data.

    import albumentations as A
    transform = A.Compose([A.HorizontalFlip(), A.RandomResizedCrop((256, 256))])
    fn = albumentations_map(transform, targets={"image": "image", "mask": "mask"}, seed=0)
    dataset = dataset.enumerate().map(fn, num_parallel_calls=tf.data.AUTOTUNE)

What it costs and where it cannot go: the transform runs in Python through
``tf.numpy_function``, so it holds the GIL and is not part of the graph. One call
(an example or a batch) runs at a time (a lock serialises them: measured here, two
Python threads running albumentations at once used 1.5 cores and gave fewer images
than one, trading the GIL), so a parallel map overlaps it with the rest of the pipeline
but does not multiply it. The function cannot be serialised: it does not run on tf.data
service workers, in a SavedModel, or on an accelerator. For those, use the native ops
of :mod:`fastfeed.compose.augment`.

At exit, bridge calls still pending fail at once so that TF can stop an iterator left
alive (a numpy_function waiting for the GIL would otherwise hang interpreter shutdown).

Reproducible: example ``index`` (or example i of batch ``index``) is transformed
with random generators seeded from (seed, index[, i]), whatever the parallelism. Map it
over batches (``dataset.batch(32).enumerate().map(fn)``) to pay the Python call once per
batch: that is how it keeps up with a plain albumentations loop.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import os
import random
import threading
import time
from typing import Mapping

# albumentations calls home for an update check when imported, unless told not to;
# a data pipeline has no business on the network (the user's own setting wins).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402
import numpy as np
import tensorflow as tf

TARGET_KINDS = ("image", "mask")

# A tf.data iterator still alive when Python shuts down (a module-level `it = iter(ds)`)
# is destroyed during finalisation: it waits for its threads, and one in a
# numpy_function waits for the GIL that finalisation holds, so the process never exits
# (a TF limitation with any numpy_function). At exit, before finalisation, bridge calls
# therefore fail at once; the pipeline's buffers fill with those errors and its threads
# park where the iterator's destructor can stop them.
_exiting = threading.Event()
_last_call = [0.0]  # time.monotonic() of the latest bridge call


@atexit.register
def _settle_pipelines(quiet: float = 0.1, limit: float = 3.0) -> None:
    _exiting.set()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and time.monotonic() - _last_call[0] < quiet:
        time.sleep(quiet / 4)


def _refuse_if_exiting() -> None:
    if _exiting.is_set():
        raise RuntimeError("Python is exiting; the albumentations bridge has stopped.")


def _aligned_empty(shape: tuple[int, ...], dtype, alignment: int = 64) -> np.ndarray:
    """``np.empty`` whose data starts on a 64-byte boundary: TF then takes a
    numpy_function's output without copying it (0.2-0.45 ms saved per 6 MB batch)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset:offset + size].view(dtype).reshape(shape)


def load_transform(transform) -> A.BaseCompose:
    """An ``A.Compose`` (or any albumentations transform), a dict from ``A.to_dict``,
    or the path of a JSON/YAML file written by ``A.save``."""
    if isinstance(transform, (str, os.PathLike)):
        path = os.fspath(transform)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"albumentations transform file {path!r} not found.")
        data_format = "yaml" if path.lower().endswith((".yaml", ".yml")) else "json"
        try:
            return A.load(path, data_format=data_format)
        except Exception as error:  # albumentations raises many kinds here
            raise ValueError(f"{path!r} is not an albumentations {data_format} "
                             f"serialisation: {error}") from None
    if isinstance(transform, Mapping):
        try:
            return A.from_dict(dict(transform))
        except Exception as error:
            raise ValueError(f"Not an albumentations transform dict: {error}") from None
    if isinstance(transform, A.BasicTransform | A.BaseCompose):
        return transform
    raise ValueError(f"Expected an albumentations transform, dict or file path, not "
                     f"{type(transform).__name__}.")


def _names(targets: Mapping[str, str]) -> dict[str, str]:
    """Example key -> the keyword albumentations is called with: the first image key is
    'image', the first mask key 'mask', the others their own names (additional
    targets)."""
    names, taken = {}, set()
    for key, kind in targets.items():
        if kind not in TARGET_KINDS:
            raise ValueError(f"targets[{key!r}] = {kind!r}; use one of {TARGET_KINDS}.")
        names[key] = kind if kind not in taken else key
        taken.add(kind)
    if "image" not in taken:
        raise ValueError(f"targets {dict(targets)} hold no 'image' target.")
    return names


def albumentations_map(transform, *, targets: Mapping[str, str] | None = None,
                       seed: int | tuple[int, ...] = 0):
    """``fn(index, example) -> example`` running ``transform`` on the ``targets`` keys
    (example key -> 'image' or 'mask'; default ``{'image': 'image', 'mask': 'mask'}``,
    a missing key is left out). Shapes' rank and channels and the dtypes are restored;
    single examples ([H, W, C]) and batches ([B, H, W, C]) both work. ``seed``: a
    non-negative int or a tuple of them."""
    seeds = (seed,) if isinstance(seed, int) else tuple(seed)
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seed must be a non-negative int or a tuple of them, not {seed!r}.")
    targets = dict(targets or {"image": "image", "mask": "mask"})
    names = _names(targets)
    base = load_transform(transform)
    if not isinstance(base, A.BaseCompose):
        base = A.Compose([base])
    base = copy.deepcopy(base)
    extra = {names[k]: kind for k, kind in targets.items() if names[k] != kind}
    if extra:
        base.add_targets(extra)
    lock = threading.Lock()

    # One generator pair, reseeded in place per example: a fresh pair per example
    # (SeedSequence, PCG64, Random) cost 9% of the plain loop's rate.
    numpy_random, python_random = np.random.Generator(np.random.PCG64()), random.Random()
    base.set_random_state(numpy_random, python_random)

    def reseed(index, i):
        key = ",".join(map(str, [*seeds, int(index)] + ([] if i is None else [i])))
        digest = hashlib.blake2b(key.encode(), digest_size=32).digest()
        state = int.from_bytes(digest[:16], "little")
        numpy_random.bit_generator.state = {
            "bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
            "state": {"state": state, "inc": int.from_bytes(digest[16:], "little") | 1}}
        python_random.seed(state)

    def outputs(keys, arrays, output):
        for key, array in zip(keys, arrays):
            value = np.asarray(output[names[key]])
            if value.ndim == array.ndim - 1:  # albumentations dropped a channel axis of 1
                value = value[..., None]
            yield value

    def run(keys, index, *arrays):
        _last_call[0] = time.monotonic()
        _refuse_if_exiting()
        if arrays[0].ndim != 4:
            with lock:
                reseed(index, None)
                output = base(**{names[k]: a for k, a in zip(keys, arrays)})
            return tuple(v.astype(a.dtype, copy=False)
                         for v, a in zip(outputs(keys, arrays, output), arrays))
        results = None
        with lock:  # a whole batch per turn: Python threads trading the GIL run slower
            for i in range(arrays[0].shape[0]):
                _refuse_if_exiting()  # a batch takes long enough to see the exit begin
                reseed(index, i)
                output = base(**{names[k]: a[i] for k, a in zip(keys, arrays)})
                values = list(outputs(keys, [a[i] for a in arrays], output))
                if results is None:  # written in place: no list of copies to stack
                    results = [_aligned_empty((len(a),) + v.shape, a.dtype)
                               for a, v in zip(arrays, values)]
                for key, result, value in zip(keys, results, values):
                    if value.shape != result.shape[1:]:
                        raise ValueError(
                            f"albumentations gave {key!r} of shape {value.shape} for "
                            f"example {i} of a batch and {result.shape[1:]} for example "
                            f"0; a batch needs one output size (end the pipeline with a "
                            f"fixed-size crop or resize), or map before batching.")
                    result[i] = value
        return tuple(results)

    def fn(index, example):
        keys = [k for k in targets if k in example]
        if not any(targets[k] == "image" for k in keys):
            raise ValueError(f"The example has none of the image keys of targets "
                             f"{targets}; its keys are {sorted(example)}.")
        tensors = [example[k] for k in keys]
        outputs = tf.numpy_function(
            lambda index_, *arrays: run(keys, index_, *arrays),
            [tf.cast(index, tf.int64), *tensors], [t.dtype for t in tensors],
            stateful=False)
        if not isinstance(outputs, (list, tuple)):  # one output comes back bare
            outputs = [outputs]
        result = dict(example)
        for key, tensor, output in zip(keys, tensors, outputs):
            rank, channels = tensor.shape.rank, tensor.shape[-1]
            output.set_shape([None] * (rank - 1) + [channels] if rank else None)
            if rank == 4:
                output.set_shape([tensor.shape[0], None, None, channels])
            result[key] = output
        return result

    return fn
