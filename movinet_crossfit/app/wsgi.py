"""The upload page as a WSGI application, configured from the environment, for gunicorn:

    gunicorn --workers 1 --threads 8 --bind 0.0.0.0:8050 'movinet_crossfit.app.wsgi:application'

(``deploy/app/Dockerfile`` runs exactly that.) **One worker process**: the jobs, their progress and
their overlay videos live in the process that took the upload, and the models are loaded once per
process; threads serve the polls while the one analysis thread works.

Importing this module loads nothing; ``application`` is built on first access (that is what
gunicorn's worker does), ``create_application(environ)`` builds one from a mapping. A bad value
raises ``UserError`` naming the variable, so the server stops at start-up rather than on an upload.

Environment (all optional; the same names as the Lambda handler's where they mean the same):

    MOVINET_CROSSFIT_POSE_MODELS   the BlazePose folder (pose.model_files; the image sets it)
    MOVINET_CROSSFIT_MODEL         a MoViNet export folder: its label names the movement (a
                                   SavedModel needs the [tf] extra; a TFLite export may not)
    MOVINET_CROSSFIT_BACKEND       the model's runtime: auto | saved_model | tflite (auto)
    MOVINET_CROSSFIT_VARIANT       the TFLite file of the export: fp32 | fp16 | dynamic | int8 (fp32)
    MOVINET_CROSSFIT_COUNTER       RepNet weights or an export-counter folder
    MOVINET_CROSSFIT_STANDARDS     a standards YAML added to the built-in movements
    MOVINET_CROSSFIT_POSE_FPS      poses per second of video (30)
    MOVINET_CROSSFIT_MAX_UPLOAD_MB the largest upload accepted (100)
    MOVINET_CROSSFIT_OVERLAY       1 draws the overlay video, 0 skips it (1)
    MOVINET_CROSSFIT_UPLOAD_DIR    where uploads and overlays live (a temp folder removed at exit)
    MOVINET_CROSSFIT_LIVE_FPS      frames a second the Camera (live) tab sends (15; at most 30)
    MOVINET_CROSSFIT_LIVE_SESSIONS cameras analysed at once (2; 0 turns the camera tab off)
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from movinet_crossfit.app.uploads import DEFAULT_MAX_UPLOAD_MB
from movinet_crossfit.core.errors import UserError

MODEL_ENV = "MOVINET_CROSSFIT_MODEL"
BACKEND_ENV = "MOVINET_CROSSFIT_BACKEND"
VARIANT_ENV = "MOVINET_CROSSFIT_VARIANT"
COUNTER_ENV = "MOVINET_CROSSFIT_COUNTER"
STANDARDS_ENV = "MOVINET_CROSSFIT_STANDARDS"
POSE_FPS_ENV = "MOVINET_CROSSFIT_POSE_FPS"
MAX_UPLOAD_ENV = "MOVINET_CROSSFIT_MAX_UPLOAD_MB"
OVERLAY_ENV = "MOVINET_CROSSFIT_OVERLAY"
UPLOAD_DIR_ENV = "MOVINET_CROSSFIT_UPLOAD_DIR"
LIVE_FPS_ENV = "MOVINET_CROSSFIT_LIVE_FPS"
LIVE_SESSIONS_ENV = "MOVINET_CROSSFIT_LIVE_SESSIONS"

BACKENDS = ("auto", "saved_model", "tflite")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

log = logging.getLogger("movinet_crossfit.app")


def create_application(environ: Mapping[str, str] | None = None):
    """The page's Flask WSGI app (``create_app(...).server``), configured from ``environ``
    (default ``os.environ``). Loads BlazePose and any model now."""
    from movinet_crossfit.analysis.footage import DEFAULT_POSE_FPS
    from movinet_crossfit.app.analysis import Analyser
    from movinet_crossfit.app.live import DEFAULT_FPS, DEFAULT_MAX_SESSIONS, MAX_FPS, LiveConfig
    from movinet_crossfit.app.server import create_app
    from movinet_crossfit.movinet.export import TFLITE_FORMATS

    env = os.environ if environ is None else environ
    text = {name: (env.get(name) or "").strip() for name in
            (MODEL_ENV, BACKEND_ENV, VARIANT_ENV, COUNTER_ENV, STANDARDS_ENV, UPLOAD_DIR_ENV)}
    backend = _choice(BACKEND_ENV, text[BACKEND_ENV] or "auto", BACKENDS)
    variant = _choice(VARIANT_ENV, text[VARIANT_ENV] or "fp32", TFLITE_FORMATS)
    pose_fps = _positive(env, POSE_FPS_ENV, DEFAULT_POSE_FPS, "poses per second")
    max_upload_mb = _positive(env, MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB, "megabytes")
    overlay = _flag(env, OVERLAY_ENV, True)
    live_fps = _positive(env, LIVE_FPS_ENV, DEFAULT_FPS, "frames per second")
    if live_fps > MAX_FPS:
        raise UserError(f"{LIVE_FPS_ENV}={live_fps:g}: at most {MAX_FPS:g} frames per second")
    live = LiveConfig(fps=live_fps, max_sessions=_count(env, LIVE_SESSIONS_ENV, DEFAULT_MAX_SESSIONS))
    _configure_logging()
    analyser = Analyser(text[MODEL_ENV] or None, text[COUNTER_ENV] or None, backend=backend, variant=variant,
                        standards=text[STANDARDS_ENV] or None, pose_fps=pose_fps, overlay=overlay)
    app = create_app(analyser=analyser, max_upload_mb=max_upload_mb, upload_dir=text[UPLOAD_DIR_ENV] or None,
                     live=live)
    log.info("WSGI app ready (%s)", f"movement model {text[MODEL_ENV]}" if text[MODEL_ENV] else "poses only")
    return app.server


def __getattr__(name: str):
    # ``application`` is made on first access, so that importing the module (a test, a linter,
    # gunicorn's master) loads no model.
    if name == "application":
        application = create_application()
        globals()["application"] = application
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UserError(f"{name}={value!r}: not one of {', '.join(allowed)}")
    return value


def _positive(env: Mapping[str, str], name: str, default: float, unit: str) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UserError(f"{name}={text!r}: not a positive number of {unit} (unset: {default:g})")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise UserError(f"{name}={text!r}: not a whole number >= 0 (unset: {default})")
    return int(text)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = (env.get(name) or "").strip().lower()
    if not text:
        return default
    if text not in _TRUE + _FALSE:
        raise UserError(f"{name}={text!r}: use 1 or 0")
    return text in _TRUE


def _configure_logging() -> None:
    # As `movinet-crossfit app` does: the jobs' lines at INFO, not Werkzeug's line per poll.
    # gunicorn configures only its own loggers, so the root is still bare here under it.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("movinet_crossfit").setLevel(logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
