"""`product_composites`: a fixed, seeded materialisation of the composite stream.

For evaluating background removal on the same examples every time: each split is the
stream's examples 0..n-1 for its own seed, written once.

    builder = tfds.builder('product_composites/procedural')
    builder.download_and_prepare()
    # Smaller, or at another size:
    config = Builder.config_for('procedural', image_size=128, validation_size=50,
                                test_size=50)
    tfds.builder('product_composites', config=config).download_and_prepare()

Large sets (100,000 examples and more) generate with Apache Beam when Beam options
are given (``tfds build ... --beam_pipeline_options=runner=DirectRunner`` or a
``DownloadConfig(beam_options=...)``): chunks of example numbers go to Beam workers,
each of which loads the assets once; example i is the same bits either way.
"""

from __future__ import annotations

import dataclasses
import logging

import tensorflow_datasets as tfds

from fastfeed.tfds_builders import info

logger = logging.getLogger(__name__)

BEAM_CHUNK = 250  # examples per Beam work item


@dataclasses.dataclass
class ProductCompositesConfig(tfds.core.BuilderConfig):
    """Where the assets come from and how many examples of which size."""

    source: str = "procedural"  # or "folders": manual_dir/objects and manual_dir/backgrounds
    image_size: int = 256
    validation_size: int = 500
    test_size: int = 500


class Builder(tfds.core.GeneratorBasedBuilder):
    """Objects pasted on background crops, with the object mask."""

    VERSION = tfds.core.Version("1.1.0")
    _beam = False  # set by download_and_prepare: generate with Apache Beam
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Deterministic placement (float64, warp transform on a 1/128 px grid): "
                 "the same bits however the generator runs; pixels differ slightly "
                 "from 1.0.0.",
    }
    SOURCE = "built-in procedural assets"  # what it builds from without a manual_dir
    MANUAL_DIR = "config folders: a folder with objects/ and backgrounds/"
    BUILDER_CONFIGS = [
        ProductCompositesConfig(
            name="procedural", source="procedural",
            description="Built-in procedural products and textures; no download."),
        ProductCompositesConfig(
            name="folders", source="folders",
            description="Cut-outs from manual_dir/objects, photos from "
                        "manual_dir/backgrounds."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Only for config `folders`: put in manual_dir
      * objects/      RGBA PNG or WebP cut-outs with real transparency (recursive),
      * backgrounds/  JPEG/PNG/WebP photos of surfaces (recursive).
    Files without usable alpha, corrupt or too large are skipped and reported.
    """

    @classmethod
    def config_for(cls, base: str = "procedural", **changes) -> ProductCompositesConfig:
        """A config like ``base`` with other sizes, named after them so that builds of
        different sizes do not share a folder, e.g. ``procedural_128px_50_50``."""
        config = next((c for c in cls.BUILDER_CONFIGS if c.name == base), None)
        if config is None:
            raise ValueError(f"Unknown config {base!r}; use one of "
                             f"{[c.name for c in cls.BUILDER_CONFIGS]}.")
        unknown = set(changes) - {"image_size", "validation_size", "test_size"}
        if unknown:
            raise ValueError(f"Unknown config field(s) {sorted(unknown)}; use image_size, "
                             f"validation_size, test_size.")
        fields = {"source": config.source, "image_size": config.image_size,
                  "validation_size": config.validation_size,
                  "test_size": config.test_size, **changes}
        for key in ("image_size", "validation_size", "test_size"):
            if int(fields[key]) < (16 if key == "image_size" else 1):
                raise ValueError(f"{key}={fields[key]} is too small.")
        if all(fields[k] == getattr(config, k) for k in fields):
            return config
        name = (f"{base}_{fields['image_size']}px_{fields['validation_size']}_"
                f"{fields['test_size']}")
        return ProductCompositesConfig(name=name, description=config.description, **fields)

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return info.local(self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(size, size, 3)),
                "mask": tfds.features.Image(shape=(size, size, 1)),
                "object_name": tfds.features.Text(),
                "background_name": tfds.features.Text(),
            }),
            supervised_keys=("image", "mask"),
            homepage="https://github.com/fastfeed/fastfeed",
        ))

    def download_and_prepare(self, *args, download_config=None, **kwargs):
        # Beam "when asked": the split generators do not see the download config.
        self._beam = bool(download_config and (download_config.beam_options
                                               or download_config.beam_runner))
        return super().download_and_prepare(*args, download_config=download_config,
                                            **kwargs)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        from fastfeed.compose import composites  # here: builders stay light to register

        config = self.builder_config
        if config.source == "folders":
            root = dl_manager.manual_dir
            missing = [name for name in ("objects", "backgrounds")
                       if not (root / name).is_dir()]
            if missing:
                raise FileNotFoundError(
                    f"manual_dir {root} lacks {' and '.join(f'{m}/' for m in missing)}. "
                    f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
            objects, backgrounds = str(root / "objects"), str(root / "backgrounds")
        else:
            objects = backgrounds = composites.PROCEDURAL
        sizes = {"validation": config.validation_size, "test": config.test_size}
        if self._beam:
            return {split: _beam_examples(objects, backgrounds, config.image_size,
                                          composites.SPLIT_SEEDS[split], sizes[split])
                    for split in sizes}
        compositor = composites.make_compositor(objects, backgrounds,
                                               image_size=config.image_size)
        return {split: self._generate_examples(compositor, composites.SPLIT_SEEDS[split],
                                               sizes[split]) for split in sizes}

    def _generate_examples(self, compositor, seed: int, count: int):
        return _examples(compositor, seed, 0, count)


def _examples(compositor, seed: int, start: int, stop: int):
    """``(i, example)`` for the examples ``start <= i < stop`` of the split's seed."""
    from fastfeed.compose import composites

    examples = composites.composite_examples(compositor, seed=seed, start=start, stop=stop)
    object_names, background_names = compositor.objects.names, compositor.backgrounds.names
    for index, example in enumerate(examples.as_numpy_iterator(), start):
        yield index, {
            "image": example["image"],
            "mask": example["mask"],
            "object_name": object_names[int(example["object_index"])],
            "background_name": background_names[int(example["background_index"])],
        }


def _beam_examples(objects: str, backgrounds: str, image_size: int, seed: int, count: int):
    """The split as a Beam transform: chunks of example numbers, each made by a worker
    that packs the assets once (:class:`_ChunkMaker`)."""
    beam = tfds.core.lazy_imports.apache_beam
    chunks = [(start, min(start + BEAM_CHUNK, count)) for start in range(0, count, BEAM_CHUNK)]
    return (beam.Create(chunks)
            | beam.FlatMap(_ChunkMaker(objects, backgrounds, image_size, seed)))


class _ChunkMaker:
    """``chunk (start, stop) -> (i, example)...`` on a Beam worker: it travels as its
    sources, and packs the assets on its first chunk."""

    def __init__(self, objects: str, backgrounds: str, image_size: int, seed: int):
        self.sources = (objects, backgrounds, image_size)
        self.seed = seed
        self.compositor = None

    def __getstate__(self):
        return {**self.__dict__, "compositor": None}

    def __call__(self, chunk):
        if self.compositor is None:
            from fastfeed.compose import composites

            objects, backgrounds, image_size = self.sources
            self.compositor = composites.make_compositor(objects, backgrounds,
                                                        image_size=image_size)
        yield from _examples(self.compositor, self.seed, *chunk)
