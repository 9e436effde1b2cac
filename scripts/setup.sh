#!/usr/bin/env bash
# Create .venv (if missing) and install movinet-crossfit into it with every extra (TensorFlow, LiteRT,
# the app, the downloader, plots: setup.cfg) and its test tools.
# Needs only Python 3.11 and pip; ffmpeg comes from the imageio-ffmpeg wheel when the
# system has none. About 3.4 GB and 3 minutes on first run; a no-op afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[all,test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# BlazePose models for `movinet-crossfit poses`, taken out of the mediapipe 0.10.21 wheel (mediapipe
# itself is not installed: it pins numpy<2 and protobuf<5), with their license NOTICE beside them.
# Checksum-verified; a no-op once pose_models/ holds them. MOVINET_CROSSFIT_SKIP_POSE_MODELS=1 skips
# it (the detector tests then skip).
if [ "${MOVINET_CROSSFIT_SKIP_POSE_MODELS:-0}" != 1 ]; then
  .venv/bin/python -m movinet_crossfit.pose.model_files pose_models >/dev/null
fi
