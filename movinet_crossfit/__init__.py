"""movinet-crossfit: CrossFit movement classification and repetition counting."""
from movinet_crossfit import _env  # noqa: F401  (must run before TensorFlow is imported)

__version__ = "0.1.0"
