"""fastfeed: keep a TensorFlow model fed with image data, fast.

Importing fastfeed registers its TFDS builders, so that
``tfds.load('lfw_pairs')`` and ``tfds.builder('lfw_pairs/deepfunneled')`` work.
Importing it changes nothing of its host program's settings: the `fastfeed` command
quiets TensorFlow's start-up logging for itself (:mod:`fastfeed.cli`).
"""

__version__ = "0.1.0"

from fastfeed import tfds_builders  # noqa: E402,F401  (registers the builders)
