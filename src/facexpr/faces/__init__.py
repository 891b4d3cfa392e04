"""The face pipeline: detection, 68 landmarks, alignment onto a canonical template, head pose,
expression cues, frontal/neutral scores, pasting crops back, and OpenFace CSV compatibility.

Typical use::

    from facexpr.faces import FacePipeline
    pipeline = FacePipeline(size=128)
    faces = pipeline.process(image)          # [] when no face; largest face first
    crop, pose = faces[0].image, faces[0].pose
"""

from facexpr.faces.align import (
    DEFAULT_WEIGHTS,
    face_mask,
    paste_back,
    paste_warp,
    similarity_transform,
    template_points,
)
from facexpr.faces.cues import (
    ExpressionCues,
    expression_cues,
    neutrality_score,
    reference_cues,
)
from facexpr.faces.detect import Face, detect_faces
from facexpr.faces.models import model_file
from facexpr.faces.openface import (
    NeutralFrameFilter,
    neutral_frontal_rows,
    openface_landmarks,
    read_openface_csv,
)
from facexpr.faces.pipeline import AlignedFace, FacePipeline, align_face
from facexpr.faces.pose import (
    HeadPose,
    estimate_head_pose,
    frontality_score,
    rotation_matrix,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "AlignedFace",
    "ExpressionCues",
    "Face",
    "FacePipeline",
    "HeadPose",
    "NeutralFrameFilter",
    "align_face",
    "detect_faces",
    "estimate_head_pose",
    "expression_cues",
    "face_mask",
    "frontality_score",
    "model_file",
    "neutral_frontal_rows",
    "neutrality_score",
    "openface_landmarks",
    "paste_back",
    "paste_warp",
    "read_openface_csv",
    "reference_cues",
    "rotation_matrix",
    "similarity_transform",
    "template_points",
]
