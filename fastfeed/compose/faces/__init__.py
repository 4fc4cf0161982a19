"""An infinite, seeded stream of face pairs for verification training.

The article's pipeline draws pairs in a Python generator and decodes both JPEGs per pair
in a serial ``map``. Here each image is decoded once, into a uint8 table of resized
faces, and each batch is sampled with stateless TF ops on index tables and gathered
from it: no Python and no per-example ``map`` in the steady state.

    from fastfeed import files, lfw
    DATA = files.data_root()  # $FASTFEED_DATA (docs/data.md)
    people = lfw.people_from_dir(f'{DATA}/lfw/lfw-deepfunneled.tgz')
    test_people = lfw.people_in_protocol_files([f'{DATA}/lfw/pairs.txt'])
    stream = pair_stream(people, exclude=test_people, seed=1,
                         augment="flip_lr|random_resized_crop(112, scale=(0.75, 1), "
                                 "method='nearest')")
    ({'image1': x1, 'image2': x2}, label) = next(iter(stream))  # uint8 [64,112,112,3]

:func:`identity_batches` draws P people x K images per batch instead, for losses over
every pair of the batch; :func:`decode_faces` decodes once for several streams (e.g.
one per LFW fold, each with its own ``exclude``).

The pieces: :class:`PairSampler` draws image indices only; a face source
(:class:`FaceTable`, the decoded table, or :class:`FaceReader`, decoding per pair for
``cache=False``) turns indices into images; :func:`pair_stream` joins them with the
augmentation.

The package: ``index`` (PeopleIndex), ``sampling`` (the index draws), ``decoding``
(JPEG at a reduced ratio, the central part), ``sources`` (FaceTable, FaceReader,
decode_faces) and ``streams`` (pair_stream, identity_batches).
"""

from fastfeed.compose.faces.decoding import decode_all, decode_resized, jpeg_ratio
from fastfeed.compose.faces.index import PeopleIndex
from fastfeed.compose.faces.sampling import (PairSampler, sample_identity_indices,
                                             sample_pair_indices)
from fastfeed.compose.faces.sources import (FaceReader, Faces, FaceTable,
                                            available_memory, decode_faces, face_source)
from fastfeed.compose.faces.streams import identity_batches, pair_stream

__all__ = ["FaceReader", "FaceTable", "Faces", "PairSampler", "PeopleIndex",
           "available_memory", "decode_all", "decode_faces", "decode_resized",
           "face_source", "identity_batches", "jpeg_ratio", "pair_stream",
           "sample_identity_indices", "sample_pair_indices"]
