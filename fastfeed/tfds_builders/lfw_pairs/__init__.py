"""The `lfw_pairs` dataset: LFW face verification pairs with the official protocol."""
