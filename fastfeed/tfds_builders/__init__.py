"""TFDS builders shipped with fastfeed, one folder each (TFDS folder style).

Importing this package registers them with TFDS. :data:`BUILDERS` names their classes;
each one's configs are its ``BUILDER_CONFIGS``, the first being TFDS' default.
"""

from fastfeed.tfds_builders.lfw_pairs import lfw_pairs_dataset_builder
from fastfeed.tfds_builders.product_composites import product_composites_dataset_builder

BUILDERS = {"lfw_pairs": lfw_pairs_dataset_builder.Builder,
            "product_composites": product_composites_dataset_builder.Builder}


def config_names(name: str) -> list[str]:
    """The configs of the builder ``name``, its default first."""
    return [config.name for config in BUILDERS[name].BUILDER_CONFIGS]
