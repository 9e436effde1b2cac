"""movinet-crossfit: CrossFit movement classification and repetition counting."""
from movinet_crossfit import _env  # noqa: F401,I001  (must run before TensorFlow is imported)

import logging

__version__ = "0.1.0"

# The library logs (logging.getLogger(__name__) in each module) and never configures handlers: an
# application decides what is shown. The NullHandler keeps Python's last-resort handler from
# printing our warnings to stderr when nobody configured logging; the CLI attaches its own.
logging.getLogger(__name__).addHandler(logging.NullHandler())
