"""fastfeed: keep a TensorFlow model fed with image data, fast.

Importing fastfeed registers its TFDS builders, so that
``tfds.load('lfw_pairs')`` and ``tfds.builder('lfw_pairs/deepfunneled')`` work.
"""

import os as _os

# Quiet TensorFlow's C++ start-up logging and albumentations' update check unless the
# user asked otherwise. Must run before TensorFlow is first imported.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

from fastfeed import tfds_builders  # noqa: E402,F401  (registers the builders)
