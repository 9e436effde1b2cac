#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the demo: generated corpus -> manifest -> clips -> records -> stats.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/movinet-crossfit demo "$@"
