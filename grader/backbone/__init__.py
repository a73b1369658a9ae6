"""The platform's own convolutional backbone, trained on ``shapes32``, for transfer learning.

``shapes_backbone.keras`` is made by ``python -m grader.backbone.train`` (see README.md). This
package never imports Keras itself: the web side only needs the path, to offer the download.
"""
from __future__ import annotations

from pathlib import Path

BACKBONE_PATH = Path(__file__).resolve().parent / "shapes_backbone.keras"
FEATURES = 1024  # length of the feature vector the backbone outputs (4×4×64)

# Backbones an exercise may offer (its ``backbone`` parameter), by name.
BACKBONES: dict[str, Path] = {"shapes_backbone": BACKBONE_PATH}
