"""Registry of reference Keras models (populated by the training issue)."""
