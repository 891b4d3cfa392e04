"""Locating and loading the pretrained face models, once per process.

The dlib models ship in the ``face_recognition_models`` package. Importing
that package fails on recent setuptools-free environments (it imports
``pkg_resources``), so its folder is found through the import machinery
without executing it. Loaded models are cached at module level: a shape
predictor takes about a second to read and ~100 MB of memory.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import cv2
import dlib

#: The pip package that holds the dlib model files.
MODELS_PACKAGE = "face_recognition_models"
#: dlib's 68-point landmark regressor (iBUG 300-W layout).
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
#: dlib's 128-D face descriptor network (identity embedding).
FACE_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
#: OpenCV's frontal-face Haar cascade, the detector of last resort.
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


def model_file(name: str) -> Path:
    """Path of a model file of the ``face_recognition_models`` package (e.g. :data:`LANDMARKS_68`).

    Raises:
        FileNotFoundError: the package is not installed or lacks the file; the
            message names the package to install.
    """
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    where = f"not in {folders[0]}/models" if folders else "the package is not installed"
    raise FileNotFoundError(
        f"face model {name!r} not found ({where}); install it with: pip install {MODELS_PACKAGE}"
    )


@lru_cache(maxsize=None)
def shape_predictor() -> dlib.shape_predictor:
    """The 68-point landmark predictor, loaded on first use."""
    return dlib.shape_predictor(str(model_file(LANDMARKS_68)))


@lru_cache(maxsize=None)
def hog_detector() -> dlib.fhog_object_detector:
    """dlib's HOG + linear SVM frontal face detector (built into dlib, no file needed)."""
    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=None)
def haar_cascade() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face Haar cascade, loaded on first use.

    Raises:
        FileNotFoundError: the OpenCV installation has no cascade data.
    """
    path = Path(cv2.data.haarcascades) / HAAR_CASCADE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FileNotFoundError(
            f"OpenCV Haar cascade {path} is missing or unreadable; reinstall opencv-python-headless"
        )
    return cascade
