"""The class colours of masks (class 0, the background, is black), in reports and the server."""

from __future__ import annotations

import numpy as np

PALETTE = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60]],
    dtype=np.uint8,
)  # fmt: skip
