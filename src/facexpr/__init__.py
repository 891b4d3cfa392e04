"""facexpr: facial expression normalization and synthesis.

Given photos of a person with any expression, produce the neutral face; given a
neutral face, synthesize a target expression. See the README for the two entry
points (`make demo`, `make test`) and ``facexpr --help`` for the command line.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy top-level API: ``facexpr.load_model`` without importing torch at ``import facexpr``."""
    if name == "load_model":
        from facexpr.models import load_model

        return load_model
    raise AttributeError(f"module 'facexpr' has no attribute {name!r}")
