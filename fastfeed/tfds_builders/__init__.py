"""TFDS builders shipped with fastfeed, one folder each (TFDS folder style).

Importing this package registers them with TFDS.
"""

from fastfeed.tfds_builders.lfw_pairs import lfw_pairs_dataset_builder  # noqa: F401
from fastfeed.tfds_builders.product_composites import (  # noqa: F401
    product_composites_dataset_builder)
