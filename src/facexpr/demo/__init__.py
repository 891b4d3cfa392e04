"""The demo (``facexpr demo``): the main job on the embedded default data, and on real faces where present.

* ``pipeline.py``: synthetic people -> aligned crops -> the VAE Neutral Face
  Generator (stage 1 and 2) -> held-out people neutralized and evaluated.
* ``geometry.py``: the geometric model beside masked regression, the VAE
  neutralizer and the true neutral face, on the synthetic people and on the
  Face Research Lab London photos.
"""

from facexpr.demo.pipeline import DemoReport, DemoSettings, run_demo, train_demo_models

__all__ = ["DemoReport", "DemoSettings", "run_demo", "train_demo_models"]
