"""Segmentation: binary and multi-class masks, mask folders or RLE CSVs (see task.py)."""

from visionfit.tasks.base import register_task
from visionfit.tasks.segmentation.task import Segmentation

register_task(Segmentation())
