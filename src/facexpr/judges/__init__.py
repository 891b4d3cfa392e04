"""Face judges: pretrained networks that measure aligned face crops, all offline.

* :class:`IdentityJudge`: dlib's ResNet 128-D descriptor (same person at distance <= 0.6).
* :class:`LandmarkJudge`: dlib's 68 landmarks from the template's fixed face box.
* :class:`ExpressionJudge`: the FER2013 mini-Xception, ported to PyTorch.
"""

from facexpr.judges.expression import EXPRESSION_CLASSES, ExpressionJudge, MiniXception
from facexpr.judges.geometry import LandmarkJudge, inter_ocular_distance, landmark_error
from facexpr.judges.identity import (
    IdentityJudge,
    IdentityScores,
    descriptor_distances,
    identity_scores,
)

__all__ = [
    "EXPRESSION_CLASSES", "ExpressionJudge", "IdentityJudge", "IdentityScores", "LandmarkJudge", "MiniXception",
    "descriptor_distances", "identity_scores", "inter_ocular_distance", "landmark_error",
]
