"""``python -m movinet_crossfit``: the same as the ``movinet-crossfit`` command."""
from movinet_crossfit.cli import main

main()
