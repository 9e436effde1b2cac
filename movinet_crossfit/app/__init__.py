"""The upload app: a Dash page over ``movinet_crossfit.analysis`` (``movinet-crossfit app``).

* ``analysis.Analyser``: the models, loaded once; ``analyse(path)`` -> ``Analysis`` (the
  ``analysis.VideoAnalysis`` the Lambda handler returns too; no Dash).
* ``uploads``: the data URL, the size limit, upload folders; names and the content check are
  ``movinet_crossfit.analysis.inputs``, shared with the handler.
* ``jobs.JobRunner``: analyses on a worker thread, polled by the page.
* ``server.create_app`` / ``server.serve``: the page and its callbacks.
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
