"""Classification: binary, multi-class, multi-label and soft labels (see task.py)."""
