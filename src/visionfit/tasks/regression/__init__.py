"""Image regression: a numeric target per image, read from a CSV column (`--task regress`)."""
