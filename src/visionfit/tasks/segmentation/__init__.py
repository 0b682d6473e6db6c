"""Segmentation: binary and multi-class masks, mask folders or RLE CSVs (see task.py)."""
