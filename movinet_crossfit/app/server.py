"""The Dash page: drop a video, watch the progress, then read the movement, the reps judged one by
one (with the deciding frame of each), the overlay video and the pace of the set.

Flow: ``dcc.Upload`` reads the file in the browser; a clientside callback refuses an oversize file
there (its bytes never leave the browser, only the refusal is sent so the server logs it); the
``update`` callback writes an accepted file and queues a job (``jobs.JobRunner``), then a
``dcc.Interval`` polls the job until it is done. The request thread never runs a model. The
overlay video is served from the job's folder by a Flask route (``/overlay/<job>/<file>``) that
answers only for that job's overlay.

The Camera (live) tab: ``/live/camera.js`` (``camera_js``) takes the browser camera's frames and
POSTs them to the ``/live/...`` routes (``live``: one ``analysis.live.LiveSession`` per camera on
its own worker thread); on Stop, the ``live-final`` store triggers the result card (``page.live_view``).

Access: with a token (``token=`` / ``$MOVINET_CROSSFIT_APP_TOKEN``) every route, the page, Dash's
own endpoints and the overlay alike, answers 401 unless the request carries it: ``?token=`` once
(a cookie is set and the token taken out of the address), the cookie, or ``Authorization: Bearer``.
``serve`` refuses to listen beyond this machine without one, unless told ``allow_insecure_remote``.
Stopping: SIGTERM (``docker stop``, systemd) is handled as Ctrl-C: the running analysis is
cancelled, the queue dropped, every camera session ended and every upload removed before the
process ends.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import ipaddress
import logging
import os
import shutil
import signal
import tempfile
import threading
import urllib.parse
from pathlib import Path

import dash
import flask
from dash import Input, Output, State, dcc, html

from movinet_crossfit.analysis.footage import resolve_movement
from movinet_crossfit.analysis.online import FINDING_RHYTHM
from movinet_crossfit.app.analysis import DEFAULT_POSE_FPS, Analyser
from movinet_crossfit.app.jobs import DEFAULT_MAX_QUEUED, DONE, FAILED, QUEUED, JobRunner, JobStatus
from movinet_crossfit.app.live import MAX_SIDE, LiveConfig, LiveSessions, make_live_session, register_live_routes
from movinet_crossfit.app.page import live_view, result_view
from movinet_crossfit.app.uploads import (DEFAULT_HOST, DEFAULT_MAX_GIGAPIXELS, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT,
                                          UploadError, app_logger, check_limits, display_name, escape_controls,
                                          format_mb, new_upload_dir, oversize_message, remove_upload_dir,
                                          save_upload)
from movinet_crossfit.core.errors import UserError

log = app_logger()

TOKEN_ENV = "MOVINET_CROSSFIT_APP_TOKEN"
TOKEN_COOKIE = "movinet_crossfit_token"
MIN_TOKEN_LENGTH = 16
COOKIE_DAYS = 30  # a gym's tablet stays logged in; a new token ends every old cookie
_NOT_A_FILE = "the upload did not arrive as a file; try again"

POLL_MS = 400
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f6f7f9;
       color: #222; }
.page { max-width: 980px; margin: 0 auto; padding: 18px 24px 40px; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; } h2 { font-size: 1.3rem; } h3 { font-size: 1.1rem; margin-bottom: 0.2rem; }
.about { color: #555; margin-top: 0.2rem; }
.drop { border: 2px dashed #8aa4c8; border-radius: 10px; padding: 34px 10px; text-align: center; background: #fff;
        cursor: pointer; font-size: 1.05rem; margin: 14px 0; }
.drop:hover { background: #eef3fa; }
.message { border-left: 5px solid #d62728; background: #fdecea; padding: 10px 14px; margin: 10px 0; }
.progress { background: #fff; padding: 10px 14px; border-radius: 8px; margin: 10px 0; }
.progress progress { width: 100%; height: 14px; }
.card { background: #fff; border-radius: 10px; padding: 8px 18px 14px; margin: 12px 0;
        box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.movement { color: #d62728; } .muted { color: #666; } .count { font-size: 1.15rem; }
.small { font-size: .85rem; }
.choice { display: flex; align-items: center; gap: 10px; } .choice #movement-choice { min-width: 260px; }
.overlay { width: 100%; max-height: 540px; background: #000; border-radius: 6px; }
table.reps { border-collapse: collapse; width: 100%; margin: 8px 0; }
table.reps th, table.reps td { border-bottom: 1px solid #e3e6ea; padding: 6px 8px; text-align: left;
                               vertical-align: top; }
.rep-valid { color: #1e7b1e; } .rep-no-rep { color: #c0211f; } .rep-unknown { color: #6b6b6b; }
tr.rep-no-rep { background: #fdf0ef; } .why { color: #444; font-size: .9rem; }
img.thumb { width: 160px; border-radius: 4px; display: block; }
.notes { color: #7a4b00; }
.tabs { display: flex; gap: 6px; margin: 12px 0 4px; border-bottom: 2px solid #d5dbe3; }
.tab { border: 0; background: none; padding: 8px 16px; font-size: 1rem; cursor: pointer; color: #445;
       border-bottom: 3px solid transparent; margin-bottom: -2px; }
.tab.active { border-bottom-color: #2b6cb0; color: #111; font-weight: 600; }
.camera-row { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
.camera-video { width: 427px; max-width: 100%; background: #000; border-radius: 6px; }
.live-count { font-size: 3rem; font-weight: 700; line-height: 1; } .live-box { min-width: 260px; }
.camera-buttons button { font-size: 1rem; padding: 6px 18px; margin-right: 8px; }
"""
_INDEX = """<!DOCTYPE html>
<html><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}<style>""" + _STYLE + """</style></head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>"""

# Runs in the browser: an oversize file is refused before its bytes are sent anywhere.
_GATE_JS = """
function(contents, filename) {
    if (!contents) { return window.dash_clientside.no_update; }
    var size = Math.floor((contents.length - contents.indexOf(",") - 1) * 3 / 4);
    if (size > %(max_bytes)d) {
        var shown = size >= 1e5 ? (size / 1e6).toFixed(1) + " MB" : Math.round(size / 1e3) + " kB";
        var name = String(filename || "upload").split(/[\\\\/]/).pop();
        return {refused: %(template)s.split("{name}").join(name).split("{size}").join(shown), filename: name};
    }
    return {contents: contents, filename: filename};
}
"""


# Runs in the browser: the two tabs are shown and hidden, never unmounted (a running upload or
# camera session keeps its state while the other tab is open).
_TABS_JS = """
function(upload, camera) {
    var ctx = window.dash_clientside.callback_context;
    var id = ctx.triggered_id || (ctx.triggered.length ? ctx.triggered[0].prop_id.split(".")[0] : "tab-upload");
    var onCamera = id === "tab-camera";
    return [{display: onCamera ? "none" : "block"}, {display: onCamera ? "block" : "none"},
            onCamera ? "tab" : "tab active", onCamera ? "tab active" : "tab"];
}
"""


def create_app(model: str | os.PathLike | None = None, counter: str | os.PathLike | None = None, *,
               analyser: Analyser | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
               upload_dir: str | os.PathLike | None = None, backend: str = "auto",
               standards: str | os.PathLike | None = None, pose_fps: float = DEFAULT_POSE_FPS,
               overlay: bool = True, max_gigapixels: float = DEFAULT_MAX_GIGAPIXELS,
               max_queue: int = DEFAULT_MAX_QUEUED, token: str | None = None,
               live: LiveConfig | None = None) -> dash.Dash:
    """The Dash app. With no arguments it analyses from poses (BlazePose, the built-in standards);
    ``model``: a MoViNet export folder (the movement then comes from it); ``counter``: RepNet weights
    or an export-counter folder (its count is shown as well); ``standards``: a user's standards YAML.
    Models load now, so a bad path fails here, not on the first upload. ``max_gigapixels``: the
    largest video (width x height x frames / 1e9); ``max_queue``: uploads that may wait behind the
    running one. ``token``: every request must carry it (None: ``$MOVINET_CROSSFIT_APP_TOKEN`` when
    set, so a WSGI server's ``create_app()`` is protected by the same variable; "": no token).
    ``live``: the camera tab's send rate, format and limits (``live.LiveConfig``).

    ``app.jobs`` is its ``JobRunner``, ``app.upload_root`` the folder uploads (and their overlay
    videos) live in, ``app.live`` its camera sessions (``live.LiveSessions``).
    """
    check_limits(max_upload_mb=max_upload_mb, max_gigapixels=max_gigapixels, max_queue=max_queue)
    token = resolve_token(token)
    if analyser is None:
        analyser = Analyser(model, counter, backend=backend, standards=standards, pose_fps=pose_fps,
                            overlay=overlay)
    max_bytes = int(max_upload_mb * 1e6)
    upload_root = Path(upload_dir) if upload_dir else Path(tempfile.mkdtemp(prefix="movinet-crossfit-app-"))
    upload_root.mkdir(parents=True, exist_ok=True)
    if upload_dir is None:
        atexit.register(shutil.rmtree, upload_root, ignore_errors=True)
    jobs = JobRunner(analyser, max_queued=max_queue, max_gigapixels=max_gigapixels)
    # A WSGI server's worker ends without serve's clean-up: the same at the process' exit (atexit
    # runs last-in first-out: the job is cancelled, then the folders go).
    atexit.register(jobs.shutdown, 2.0)
    standards = getattr(analyser, "standards", None)

    def counted_as(name: str, flip_rest: bool = False) -> str:
        """A movement judged (its standard's name) or counted only (the pose counter's), as analyze
        takes it; another name is a UserError listing both (as is ``flip_rest`` with a judged one)."""
        return resolve_movement(standards, name, flip_rest, words=PAGE_WORDS)[1]

    sessions = LiveSessions(lambda fps, movement, flip_rest: make_live_session(analyser, fps, movement, flip_rest),
                            live or LiveConfig(),
                            resolve_movement=counted_as if standards is not None else None)
    atexit.register(sessions.shutdown, 2.0)

    app = dash.Dash(__name__, title="movinet-crossfit", update_title=None, suppress_callback_exceptions=True,
                    external_scripts=["/live/camera.js"])  # the camera tab's script (live.register_live_routes)
    app.index_string = _INDEX
    # Base64 adds a third; anything much bigger than an allowed upload is cut off at the HTTP layer.
    app.server.config["MAX_CONTENT_LENGTH"] = max_bytes * 4 // 3 + 4 * 2**20
    if token:
        require_token(app.server, token)
    app.layout = _layout(analyser, max_bytes, max_gigapixels, sessions.config)
    app.jobs, app.analyser, app.upload_root, app.max_upload_bytes = jobs, analyser, upload_root, max_bytes
    app.live = sessions
    register_live_routes(app.server, sessions)
    app.clientside_callback(_TABS_JS, Output("upload-tab", "style"), Output("camera-tab", "style"),
                            Output("tab-upload", "className"), Output("tab-camera", "className"),
                            Input("tab-upload", "n_clicks"), Input("tab-camera", "n_clicks"), prevent_initial_call=True)

    @app.callback(Output("live-result", "children"), Input("live-final", "data"), prevent_initial_call=True)
    def live_result(data):
        session_id = data.get("session") if isinstance(data, dict) else None
        final = sessions.finished.get(session_id) if isinstance(session_id, str) else None
        if final is None:
            return _error("this camera result is no longer on the server; press Start for a new session")
        return live_view(final)

    template = oversize_message("{name}", "{size}", max_bytes)
    app.clientside_callback(_GATE_JS % {"max_bytes": max_bytes, "template": _js_string(template)},
                            Output("payload", "data"), Input("upload", "contents"), State("upload", "filename"),
                            prevent_initial_call=True)

    counted = analyser.describe().get("counted", [])

    @app.callback(Output("flip-choice", "options"), Output("flip-choice", "value"), Input("movement-choice", "value"),
                  State("flip-choice", "value"), prevent_initial_call=True)
    def flip_box(movement, ticked):
        """Greyed out (and unticked) unless the movement chosen is counted, not judged."""
        options = flip_options(movement, counted)
        return options, ([] if options[0]["disabled"] else ticked)

    @app.callback(Output("job", "data"), Output("poll", "disabled"), Output("message", "children"),
                  Output("progress", "children"), Output("result", "children"),
                  Input("payload", "data"), Input("poll", "n_intervals"), State("job", "data"),
                  State("movement-choice", "value"), State("flip-choice", "value"), prevent_initial_call=True)
    def update(payload, _n, job, movement, flip):
        if dash.ctx.triggered_id == "payload":
            return _start(jobs, payload, upload_root, max_bytes, movement or None,
                          isinstance(flip, list) and "flip" in flip)
        return _poll(jobs, job)

    @app.server.route("/overlay/<job_id>/<path:name>")
    def overlay_video(job_id: str, name: str):
        path = overlay_file(jobs, job_id, name)
        if path is None:
            flask.abort(404)
        # conditional: Range requests (206), which the <video> element uses to seek.
        return flask.send_file(path, mimetype="video/mp4", conditional=True, max_age=0)

    return app


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``$MOVINET_CROSSFIT_APP_TOKEN`` when it is None; None when neither is set (or
    ""). ``UserError`` for a token shorter than 16 characters or holding spaces or control characters."""
    if token is None:
        token = os.environ.get(TOKEN_ENV, "")
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or any(c.isspace() for c in token):
        raise UserError(f"--token / ${TOKEN_ENV}: use at least {MIN_TOKEN_LENGTH} characters with no spaces, e.g. "
                        "`python -c 'import secrets; print(secrets.token_urlsafe())'`")
    return token


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def require_token(server: flask.Flask, token: str) -> None:
    """Every request to ``server`` needs ``token``: ``?token=`` (a GET is then redirected to the same
    address without it, with a cookie set), the cookie, or ``Authorization: Bearer TOKEN``; else 401."""
    # The cookie holds a value derived from the token, not the token: it is never stored in the clear.
    cookie = hmac.new(token.encode(), b"movinet-crossfit app cookie", hashlib.sha256).hexdigest()

    @server.before_request
    def check_token():
        request = flask.request
        given = request.args.get("token")
        if given is not None and _same(given, token):
            if request.method not in ("GET", "HEAD"):
                return None
            rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
            # "/" + lstrip: a path like "//host" must not become a redirect to another site.
            target = "/" + request.path.lstrip("/") + ("?" + urllib.parse.urlencode(rest) if rest else "")
            response = flask.redirect(target, code=303)
            response.set_cookie(TOKEN_COOKIE, cookie, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                                secure=request.is_secure)
            return response
        if _same(request.cookies.get(TOKEN_COOKIE, ""), cookie):
            return None
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), token):
            return None
        log.warning("refused %s %s from %s: no valid token", request.method, request.path, request.remote_addr)
        return flask.Response("this app needs its access token: open the address with ?token=... that whoever "
                              "runs it gave you\n", status=401, mimetype="text/plain",
                              headers={"WWW-Authenticate": 'Bearer realm="movinet-crossfit"'})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def job_file(folder: str | os.PathLike, name: str) -> Path | None:
    """``folder/name`` when it is a file inside ``folder`` (no ``..``, no absolute path, no link
    out of it), else None."""
    root = Path(folder).resolve()
    try:
        candidate = (root / name).resolve()
    except (OSError, ValueError):
        return None
    if candidate == root or not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def overlay_file(jobs: JobRunner, job_id: str, name: str) -> Path | None:
    """The overlay video of the finished job ``job_id`` when ``name`` is it, else None: the route
    serves nothing else (not the upload, nothing outside the job's folder, nothing of another job)."""
    status = jobs.status(job_id)
    if status is None or status.state != DONE or status.folder is None or status.result is None:
        return None
    overlay = getattr(status.result, "overlay", None)
    path = job_file(status.folder, name)
    if path is None or overlay is None or path != Path(overlay).resolve():
        return None
    return path


def _js_string(text: str) -> str:
    import json

    return json.dumps(text)


def _layout(analyser: Analyser, max_bytes: int, max_gigapixels: float = DEFAULT_MAX_GIGAPIXELS,
            live: LiveConfig | None = None) -> html.Div:
    about = analyser.describe()
    counter = about["counter"]
    model_text = (f"movement model: {about['model']} ({about['backend']}, {len(about['classes'])} movements)"
                  if about["model"] else "the movement is recognised from the poses (--model EXPORT adds MoViNet)")
    counter_text = (f"RepNet {counter['kind']} {counter['source']} counts as well (needs {counter['num_frames']} "
                    "frames)" if counter else "")
    # The Movement boxes: the movements judged, then those only counted (as analyze takes them).
    counted = about.get("counted", [])
    standards = [(name, name) for name in about["standards"]] + \
        [(name, f"{name} (counted, not judged)") for name in counted]
    return html.Div(className="page", children=[
        html.H1("CrossFit rep counter and judge"),
        html.P(className="about", id="about", children="; ".join(filter(None, [
            f"poses: {about['poses']}", model_text, counter_text,
            f"standards for {len(standards)} movements"
            + (f" (with {about['standards_file']})" if about["standards_file"] else ""),
            f"uploads up to {format_mb(max_bytes)} and {max_gigapixels:g} gigapixels (width x height x frames)"]))
            + "."),
        html.Div(className="tabs", role="tablist", children=[
            html.Button("Upload a video", id="tab-upload", className="tab active", role="tab"),
            html.Button("Camera (live)", id="tab-camera", className="tab", role="tab")]),
        html.Div(id="upload-tab", style={"display": "block"}, children=_upload_tab(standards, counted)),
        html.Div(id="camera-tab", style={"display": "none"}, children=_camera_tab(standards, counted,
                                                                                      live or LiveConfig())),
    ])


# The page's "the other end" box (``--flip-rest``), and the words its errors name the two boxes by.
PAGE_WORDS = ("the movement", "the other end")
FLIP_LABEL = " the other end"


def flip_options(movement: str | None, counted) -> list[dict]:
    """The options of a tab's "the other end" box: it can be ticked only with a movement counted,
    not judged (``counted``), the one kind ``--flip-rest`` takes."""
    return [{"label": FLIP_LABEL, "value": "flip", "disabled": not (movement and movement in counted)}]


_FLIP_HINT = ("a movement counted, not judged, cut where it looks mid-rep: sit-ups sat up to sat up, a pommel "
              "horse filmed from the other side")


def _upload_tab(standards: list[tuple[str, str]], counted: list[str]) -> list:
    return [
        html.Div(className="choice", children=[
            html.Label("Movement:", htmlFor="movement-choice"),
            dcc.Dropdown(id="movement-choice", value="", clearable=False, searchable=True,
                         options=[{"label": "recognise it", "value": ""}]
                         + [{"label": label, "value": name} for name, label in standards]),
            html.Span("choose it when you know it: the reps are then judged against its standards",
                      className="muted small")]),
        html.Div(className="choice", children=[
            dcc.Checklist(id="flip-choice", value=[], inline=True, options=flip_options("", counted)),
            html.Span(_FLIP_HINT, className="muted small")]),
        dcc.Upload(id="upload", className="drop", multiple=False,
                   children=html.Div(["Drag and drop a video here, or ", html.A("choose a file")])),
        dcc.Store(id="payload"), dcc.Store(id="job"),
        dcc.Interval(id="poll", interval=POLL_MS, disabled=True),
        html.Div(id="message", role="alert"),
        html.Div(id="progress"),
        html.Div(id="result"),
    ]


def _camera_tab(standards: list[tuple[str, str]], counted: list[str], live: LiveConfig) -> list:
    """The camera's controls and running display; ``camera_js.CAMERA_JS`` (served as ``/live/camera.js``) drives them."""
    kind = "PNG" if live.frame_format == "png" else "JPEG"
    return [
        html.P(className="muted small", children=(
            f"Your camera's picture is sent to this server as {live.fps:g} {kind} frames a second (at most "
            f"{MAX_SIDE} pixels a side, kept in memory only) and counted as you move; Stop gives the rep table. "
            "Browsers give the camera only to https:// pages and to http://localhost.")),
        html.Div(id="camera", **{"data-fps": f"{live.fps:g}", "data-max-side": str(MAX_SIDE),
                                 "data-counted": ",".join(counted),
                                 "data-format": f"image/{live.frame_format}", "data-quality": "0.92"}, children=[
            html.Div(className="choice", children=[
                html.Label("Movement:", htmlFor="camera-movement"),
                html.Select(id="camera-movement", children=[html.Option("recognise it", value="")]
                            + [html.Option(label, value=name) for name, label in standards])]),
            html.Div(className="choice", children=[
                dcc.Checklist(id="camera-flip", value=[], inline=True, options=flip_options("", counted)),
                html.Span(_FLIP_HINT, className="muted small")]),
            html.Div(className="camera-buttons", style={"margin": "12px 0"}, children=[
                html.Button("Start camera", id="camera-start"),
                html.Button("Stop", id="camera-stop", disabled=True),
                html.Span(id="live-mode", className="muted small")]),
            html.Div(id="live-error", role="alert"),
            html.Div(className="camera-row", children=[
                html.Video(id="camera-video", className="camera-video", autoPlay=True, muted=True,
                           playsInline=True),
                html.Div(className="live-box card", children=[
                    html.Div("reps", className="muted"),
                    html.Div("0", id="live-count", className="live-count"),
                    html.P(["movement: ", html.Span("-", id="live-movement", className="movement")]),
                    html.P(["pace: ", html.Span(FINDING_RHYTHM, id="live-pace", className="muted",
                                                 **{"data-finding": FINDING_RHYTHM})]),
                    html.P(["last rep: ", html.Span("no rep yet", id="live-last-rep", className="muted")]),
                    html.P(className="muted small", children=[
                        html.Span("0", id="camera-sent"), " frames sent; ", html.Span(id="live-health")]),
                    html.P(id="live-behind"),
                    html.P(id="live-final-note", className="muted")])]),
        ]),
        dcc.Store(id="live-final"),
        html.Div(id="live-result"),
    ]


def _error(text: str) -> html.Div:
    return html.Div(text, className="message", id="error")


def _progress(stage: str, fraction: float, seconds: float, filename: str) -> html.Div:
    return html.Div(className="progress", id="working", children=[
        html.Div(f"{filename}: {stage}... {seconds:.1f} s"),
        html.Progress(value=f"{max(0.02, fraction):.2f}", max="1")])


def _queue_stage(status: JobStatus) -> str:
    """What a job is doing, its place in the queue while it waits."""
    if status.state == QUEUED and status.ahead:
        return (f"queued: position {status.ahead} in line ({status.ahead} upload{'s' if status.ahead != 1 else ''} "
                "ahead of yours)")
    return status.stage


def _start(jobs: JobRunner, payload: dict | None, upload_root: Path, max_bytes: int, movement: str | None = None,
           flip_rest: bool = False):
    """The upload callback's work. Whatever the request holds (it may not come from the page), the
    answer is a message on the page, never a server error. ``flip_rest``: the movement's other
    convention (the page's "the other end" box)."""
    if not payload:
        return (dash.no_update,) * 5
    if not isinstance(payload, dict) or not isinstance(payload.get("refused") or "", str) \
            or not isinstance(movement or "", str):
        log.warning("malformed upload request refused (payload %s, movement %s)", type(payload).__name__,
                    type(movement).__name__)
        return None, True, _error(_NOT_A_FILE), "", []
    name = display_name(payload.get("filename"))
    if payload.get("refused"):
        log.warning("upload refused in the browser: %s", payload["refused"])
        return None, True, _error(escape_controls(payload["refused"])[:600]), "", []
    standards = getattr(jobs.analyser, "standards", None)
    if standards is not None:  # a name the page does not offer, or the other end with a judged one
        try:
            resolve_movement(standards, movement, flip_rest, words=PAGE_WORDS)
        except UserError as exc:
            return None, True, _error(str(exc)), "", []
    try:
        jobs.check_room(name)  # a full queue: refused before the file is even written
    except UploadError as exc:
        log.warning("upload refused: %s", exc)
        return None, True, _error(str(exc)), "", []
    folder = new_upload_dir(upload_root)
    try:
        path = save_upload(payload.get("contents"), name, folder, max_bytes)
        job_id = jobs.submit(path, name, folder, movement=movement, flip_rest=flip_rest)
    except UploadError as exc:
        remove_upload_dir(folder)
        log.warning("upload refused: %s", exc)
        return None, True, _error(str(exc)), "", []
    except Exception as exc:  # noqa: BLE001 - the page must get an answer, the server must keep serving
        remove_upload_dir(folder)
        log.exception("upload of %s failed", name)
        return None, True, _error(f"{name}: the upload could not be stored ({type(exc).__name__}); "
                                  "the error is logged on the server"), "", []
    log.info("job %s: %s queued%s", job_id, name, f" as {movement}" if movement else "")
    status = jobs.status(job_id)
    stage = _queue_stage(status) if status is not None else "queued"
    return {"id": job_id, "filename": name}, False, "", _progress(stage, 0.0, 0.0, name), []


def _poll(jobs: JobRunner, job: dict | None):
    """The poll callback's work: the job's progress, its result or its error (a job that is not
    one of this server's, or not even a dict with an ``id``, is "no longer on the server")."""
    status = jobs.status(job.get("id") if isinstance(job, dict) else None)
    if status is None:
        return None, True, _error("this result is no longer on the server; upload the video again"), "", []
    if status.state == DONE:
        overlay = getattr(status.result, "overlay", None)
        url = f"/overlay/{status.id}/{Path(overlay).name}" if overlay is not None else None
        return dash.no_update, True, "", "", result_view(status.result, status.seconds, url)
    if status.state == FAILED:
        return dash.no_update, True, _error(status.error), "", []
    return dash.no_update, False, dash.no_update, _progress(_queue_stage(status), status.fraction, status.seconds,
                                                           status.filename), dash.no_update


def serve(model: str | os.PathLike | None = None, counter: str | os.PathLike | None = None, *,
          host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
          backend: str = "auto", standards: str | os.PathLike | None = None, pose_fps: float = DEFAULT_POSE_FPS,
          overlay: bool = True, max_gigapixels: float = DEFAULT_MAX_GIGAPIXELS, max_queue: int = DEFAULT_MAX_QUEUED,
          token: str | None = None, allow_insecure_remote: bool = False, live: LiveConfig | None = None) -> None:
    """Load the models, then serve the page until Ctrl-C or SIGTERM (Flask's threaded server); then
    the running analysis is cancelled and every upload removed. ``token``: see ``create_app``; a
    ``host`` beyond this machine needs one unless ``allow_insecure_remote`` (a ``UserError`` before
    anything loads)."""
    token = resolve_token(token)
    if not token and not allow_insecure_remote and not is_loopback(host):
        raise UserError(f"--host {host}: anyone who can reach it could use the app; add --token TOKEN (or set "
                        f"${TOKEN_ENV}), or pass --allow-insecure-remote to serve it without one")
    check_limits(max_upload_mb=max_upload_mb, max_gigapixels=max_gigapixels, max_queue=max_queue)
    live = (live or LiveConfig()).check()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("movinet_crossfit").setLevel(logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per progress poll
    on_main_thread = threading.current_thread() is threading.main_thread()  # only there can Python set one
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        app = create_app(model, counter, max_upload_mb=max_upload_mb, backend=backend, standards=standards,
                         pose_fps=pose_fps, overlay=overlay, max_gigapixels=max_gigapixels, max_queue=max_queue,
                         token=token or "", live=live)
        log.info("serving on http://%s:%d/ (%s)", host, port, f"movement model {model}" if model else "poses only")
        if token:
            log.info("the page needs the token: open http://%s:%d/?token=TOKEN once in each browser", host, port)
        elif not is_loopback(host):
            log.warning("no token: anyone who can reach %s:%d can use the app", host, port)
        try:
            app.run(host=host, port=port, debug=False)  # returns on Ctrl-C (werkzeug swallows the interrupt)
        except OSError as exc:  # the port is taken, the address is not this machine's
            raise UserError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None
        finally:
            if on_main_thread:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
            log.info("stopping: cancelling the running analysis, removing the uploads")
            app.jobs.shutdown()
            app.live.shutdown()
            shutil.rmtree(app.upload_root, ignore_errors=True)
            log.info("stopped")
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _interrupt(signum, frame):
    """SIGTERM (docker stop, systemd) stops the server as Ctrl-C does."""
    raise KeyboardInterrupt
