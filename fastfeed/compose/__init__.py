"""Data generation for tf.data: face pairs, product composites, procedural assets,
augmentation ops and the albumentations bridge (see the open issues for each)."""
