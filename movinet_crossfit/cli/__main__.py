"""``python -m movinet_crossfit.cli`` (as ``python -m movinet_crossfit``)."""
from movinet_crossfit.cli import main

main()
