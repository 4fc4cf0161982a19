"""Product/background composites with exact masks, generated on the fly in tf.data.

Each example pastes one RGBA cut-out onto a random crop of one background photo and
labels the object's pixels. All in TF ops (no ``py_function``), from a stateless seed
per example ``(seed, index)``, so it runs in parallel, deterministically:

    stream = composite_stream('procedural', 'procedural', image_size=256, seed=0)
    batch = next(iter(stream))  # {'image': uint8 [32,256,256,3],
                                #  'mask': uint8 [32,256,256,1] in {0,1},
                                #  'alpha': uint8 [32,256,256,1]}

The recipe, per example:

1. pick an object and a background; crop the background at the output size (a uint8
   slice: backgrounds are stored with their shorter side at least the output size);
2. scale (longest side a wide ``scale_range`` of the output: Simple Copy-Paste found
   large scale jitter matters most), rotate, flip and place the object, allowing
   ``max_truncation`` of it outside the border; one projective warp renders only the
   object's region (its rotated box plus a margin for shadow and blur);
3. jitter the object's colours towards the background's mean (a random fraction)
   and in brightness;
4. optionally cast a soft shadow, offset from the object, that darkens the background
   only;
5. blend with an edge treatment drawn per example (none, feathered alpha, blur
   blur of the edge band: Cut, Paste and Learn found mixing them keeps a model from
   keying on paste artefacts).

``alpha`` is the warped alpha, before any edge treatment; ``mask`` is ``alpha >= 128``.
The shadow and the feathering never enter either. Only the object's region is touched
in float; the rest of the canvas is uint8 copies.
The package: ``recipe`` (Recipe, the scene recipe, split seeds, source mixes),
``procedural`` (built-in products and textures), ``folders`` (a user's cut-out and
background folders, vetted), ``assets`` (sources packed into tensors), ``render``
(the pixel operations), ``compositor`` (one example) and ``stream``.
"""

from fastfeed.compose.composites.assets import (AssetTable, background_assets,
                                                 object_assets)
from fastfeed.compose.composites.compositor import Compositor
from fastfeed.compose.composites.recipe import (EDGE_MODES, PROCEDURAL, SCENE_RECIPE,
                                                 SPLIT_SEEDS, Recipe, parse_mix)
from fastfeed.compose.composites.stream import (EXAMPLE_DTYPES, composite_examples,
                                                 composite_stream, make_compositor)

__all__ = ["AssetTable", "Compositor", "EDGE_MODES", "EXAMPLE_DTYPES", "PROCEDURAL", "Recipe",
           "SCENE_RECIPE", "SPLIT_SEEDS", "background_assets", "composite_examples",
           "composite_stream", "make_compositor", "object_assets", "parse_mix"]
