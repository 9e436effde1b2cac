"""Which part of the install brings each third-party module the package imports.

``pip install movinet-crossfit`` alone is the corpus tools (manifest, clips, split, the CLI); each
runtime is an extra of setup.cfg, so a deployment installs only what it runs:

    lite      LiteRT: BlazePose poses, analyze, TFLite models, the Lambda handler (no TensorFlow)
    tf        TensorFlow: records, train, evaluate, export, SavedModel predict, RepNet, keypoints
    plots     pandas and matplotlib: stats, and the charts of evaluate, predict and count
    app       the Dash upload page and gunicorn (with LiteRT, for the poses)
    download  yt-dlp
    beam      Apache Beam: split, records and poses on a Beam runner (--runner)
    all       every one of them (what scripts/setup.sh installs, with the test tools)

``MODULES`` is the one table of it: ``missing_extra_message`` turns a missing module into one line
naming the extra, and tests/test_packaging.py holds setup.cfg and the package's imports to it (an
import that is not in the table, or whose distribution setup.cfg does not declare there, fails).
"""
from __future__ import annotations

PACKAGE = "movinet-crossfit"

# Top-level module -> (the distribution that provides it, the smallest extra that declares it;
# None: always installed). Where several extras carry a module (LiteRT is in lite, tf and app),
# the one named is the one a user missing it should add.
MODULES: dict[str, tuple[str, str | None]] = {
    "numpy": ("numpy", None),
    "scipy": ("scipy", None),
    "cv2": ("opencv-python-headless", None),
    "PIL": ("pillow", None),
    "ffmpeg": ("ffmpeg-python", None),
    "imageio_ffmpeg": ("imageio-ffmpeg", None),
    "pydantic": ("pydantic", None),
    "yaml": ("pyyaml", None),
    "rich": ("rich", None),
    "typer": ("typer", None),
    "ai_edge_litert": ("ai-edge-litert", "lite"),
    "boto3": ("boto3", "lite"),
    # The handler catches botocore's exceptions, the documented way to handle boto3's errors;
    # boto3 pins the botocore it works with, so boto3 is what is declared.
    "botocore": ("boto3", "lite"),
    "tensorflow": ("tensorflow", "tf"),
    "tf_keras": ("tf-keras", "tf"),
    "official": ("tf-models-official", "tf"),
    "tensorflow_hub": ("tensorflow-hub", "tf"),
    "h5py": ("h5py", "tf"),
    "flatbuffers": ("flatbuffers", "tf"),  # export edits the int8 file (a TensorFlow dependency already)
    "pandas": ("pandas", "plots"),
    "matplotlib": ("matplotlib", "plots"),
    "dash": ("dash", "app"),
    "plotly": ("plotly", "app"),
    "flask": ("flask", "app"),
    "gunicorn": ("gunicorn", "app"),
    "yt_dlp": ("yt-dlp", "download"),
    # split/records/poses --runner (data.beam_pipeline, pose.beam_poses); gs:// needs apache-beam[gcp].
    "apache_beam": ("apache-beam", "beam"),
}


def install_hint(extra: str) -> str:
    """The command that adds ``extra`` to an installed movinet-crossfit."""
    return f"pip install '{PACKAGE}[{extra}]' (from a checkout: pip install -e '.[{extra}]')"


def missing_extra_message(exc: BaseException) -> str | None:
    """One line for a ``ModuleNotFoundError`` of a module an extra provides, else None (a missing
    module of the core install, or one this package does not import, is a broken install or a bug:
    its traceback is the useful answer)."""
    name = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not name:
        return None
    top = name.split(".")[0]
    distribution, extra = MODULES.get(top, (None, None))
    if extra is None:
        return None
    return f"{top} is not installed ({distribution}, in the [{extra}] extra); install it with {install_hint(extra)}"
