"""Classification: binary, multi-class, multi-label and soft labels (see task.py)."""

from visionfit.tasks.base import register_task
from visionfit.tasks.classification.task import Classification

register_task(Classification())
