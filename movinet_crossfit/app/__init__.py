"""The upload app: a Dash page over ``analysis.footage`` (``movinet-crossfit app``).

* ``analysis.Analyser``: BlazePose, the standards and the optional models, loaded once;
  ``analyse(path)`` -> ``Analysis`` (``analysis.footage.FootageAnalysis``, the result the Lambda
  handler returns too, plus the rep thumbnails, the overlay video and RepNet's count; no Dash).
* ``uploads``: the data URL, the size limit, upload folders; names and the content check are
  ``movinet_crossfit.analysis.inputs``, shared with the handler.
* ``jobs.JobRunner``: analyses on a worker thread, polled by the page.
* ``page``: the result card (rep table, overlay video, pace chart); ``figures``: its plotly charts.
* ``live``: the Camera (live) tab's routes and sessions (frames -> ``analysis.live.LiveSession``);
  ``camera_js``: its browser script.
* ``server.create_app`` / ``server.serve``: the page, its callbacks and the overlay route.
"""
from movinet_crossfit.app.analysis import Analyser, Analysis, load_counter

__all__ = ["Analyser", "Analysis", "create_app", "load_counter", "serve"]


def create_app(*args, **kwargs):
    """``server.create_app`` (imported on use: Dash loads only when a page is made)."""
    from movinet_crossfit.app.server import create_app as make

    return make(*args, **kwargs)


def serve(*args, **kwargs):
    """``server.serve``: load the models and serve the page."""
    from movinet_crossfit.app.server import serve as run

    return run(*args, **kwargs)
