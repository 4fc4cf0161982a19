"""fastfeed: keep a TensorFlow model fed with image data, fast.

Importing fastfeed registers its TFDS builders, so that
``tfds.load('lfw_pairs')`` and ``tfds.builder('lfw_pairs/deepfunneled')`` work.
"""

import os as _os

# The one place for fastfeed's environment defaults (the CLI, the bridge and the tests
# all import this package first): quiet TensorFlow's C++ start-up logging and turn off
# albumentations' update check (it calls home on import), unless the user chose
# otherwise. Must run before TensorFlow or albumentations is first imported.
ENVIRONMENT_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "NO_ALBUMENTATIONS_UPDATE": "1"}
for _name, _value in ENVIRONMENT_DEFAULTS.items():
    _os.environ.setdefault(_name, _value)

__version__ = "0.1.0"

from fastfeed import tfds_builders  # noqa: E402,F401  (registers the builders)
