"""The two container recipes (deploy/lambda, deploy/app) and the app's WSGI entry.

Without a Docker daemon the recipes are checked by a build-free lint (``lint_dockerfile``: the base
image pinned, the package installed with its extra, the licenses copied, the pose models fetched,
exec-form CMD, for the app a non-root user, a port and gunicorn with one worker; and that the
build context lets in what is copied); the lint is shown to fail on broken variants. With a daemon
(`docker info` succeeds) both images are built and started. The WSGI entry is built in-process, and
gunicorn is started on it with the Dockerfile's own command line.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from movinet_crossfit.core.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
LAMBDA, APP = ROOT / "deploy" / "lambda" / "Dockerfile", ROOT / "deploy" / "app" / "Dockerfile"
WSGI_TARGET = "movinet_crossfit.app.wsgi:application"


# --- the lint -------------------------------------------------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def _excluded(path: str, patterns: list[str]) -> bool:
    """Docker's rule, enough for these files: the last pattern matching the path or a folder above
    it decides; ``!`` lets in again."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        globs = [body, body[3:]] if body.startswith("**/") else [body]
        if any(fnmatch.fnmatchcase(c, g) for c in candidates for g in globs):
            excluded = not negate
    return excluded


def lint_dockerfile(text: str, extra: str, ignore: str | None) -> list[str]:
    """The problems of a recipe that installs movinet-crossfit[extra] (``ignore``: its
    Dockerfile.dockerignore). An empty list: it passes."""
    steps = instructions(text)
    problems = []
    args = {}
    for word, rest in steps:
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name.strip()] = value.strip()

    def expand(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)

    for word, rest in steps:
        if word == "FROM":
            image = rest.split()[0]
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if "@sha256:" not in image and not re.match(r"3\.1\d", tag):
                problems.append(f"FROM {image}: pin the base image to a tag naming the Python version "
                                "(3.12, 3.11-slim-bookworm), or a digest")
    runs = [expand(rest) for word, rest in steps if word == "RUN"]
    installs = [m.group(1).split(",") for run in runs
                for m in re.finditer(r"pip install[^&;|]*?[\"']?\.\[([\w,-]+)\][\"']?", run)]
    if not any(extra in found for found in installs):
        problems.append(f"no RUN pip install '.[{extra}]': install the package with its [{extra}] extra")
    for run in runs:
        if re.search(r"pip install[^&;|]*\s-r\s", run) or "requirements" in run:
            problems.append(f"RUN {run[:60]}...: a hand-kept requirements file; the extra is the list")
        if "tensorflow" in run and extra == "lite":
            problems.append(f"RUN {run[:60]}...: installs TensorFlow into a TFLite-only image")
    copied = [src for word, rest in steps if word == "COPY" and "--from" not in rest
              for src in shlex.split(rest)[:-1] if not src.startswith("--")]
    for needed in ("LICENSE", "THIRD_PARTY_NOTICES.md"):
        if needed not in copied:
            problems.append(f"{needed} is not copied into the image: COPY it (the licenses travel with the image)")
    fetch = [re.search(r"movinet_crossfit\.pose\.model_files\s+(\S+)", run) for run in runs]
    folders = [m.group(1) for m in fetch if m]
    env = {}
    for word, rest in steps:
        if word == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest) if "=" in item)
    if not folders:
        problems.append("the BlazePose models are not fetched: RUN python -m movinet_crossfit.pose.model_files DIR")
    elif env.get("MOVINET_CROSSFIT_POSE_MODELS") != folders[0]:
        problems.append(f"ENV MOVINET_CROSSFIT_POSE_MODELS is not {folders[0]}, where the models were fetched")
    commands = [(word, rest) for word, rest in steps if word in ("CMD", "ENTRYPOINT")]
    command = None
    if not commands:
        problems.append("no CMD")
    for word, rest in commands:
        try:
            command = json.loads(rest)
            assert isinstance(command, list)
        except (ValueError, AssertionError):
            problems.append(f"{word} {rest[:40]}...: use the exec form, a JSON list (signals reach the process)")
            command = None
    if extra == "lite" and command is not None and command != ["movinet_crossfit.serverless.handler"]:
        problems.append(f"CMD {command}: the Lambda handler is movinet_crossfit.serverless.handler")
    if extra == "app":
        users = [(i, rest.split(":")[0]) for i, (word, rest) in enumerate(steps) if word == "USER"]
        cmd_at = max((i for i, (word, _) in enumerate(steps) if word in ("CMD", "ENTRYPOINT")), default=len(steps))
        if not users or users[-1][1] in ("root", "0") or users[-1][0] > cmd_at:
            problems.append("the app runs as root: add USER with a non-root user before CMD")
        if not any(word in ("EXPOSE", "HEALTHCHECK") for word, _ in steps):
            problems.append("no EXPOSE or HEALTHCHECK: say which port the page is on")
        workers = None
        if command and command[0] == "gunicorn":
            for i, item in enumerate(command):
                if item in ("--workers", "-w") and i + 1 < len(command):
                    workers = command[i + 1]
                elif item.startswith("--workers="):
                    workers = item.split("=", 1)[1]
        if command is None or command[:1] != ["gunicorn"] or WSGI_TARGET not in command:
            problems.append(f"CMD {command}: run gunicorn on {WSGI_TARGET}")
        if workers != "1":
            problems.append(f"gunicorn workers {workers}: exactly one worker (--workers 1), the jobs live in it")
    if ignore is None:
        problems.append("no Dockerfile.dockerignore beside the recipe: the build would send .venv and data")
    else:
        patterns = [line.strip() for line in ignore.splitlines() if line.strip() and not line.startswith("#")]
        for src in copied:
            if _excluded(src, patterns):
                problems.append(f"COPY {src}: left out of the build context by Dockerfile.dockerignore")
    return problems


def _recipe(path: Path) -> tuple[str, str | None]:
    ignore = path.with_name(path.name + ".dockerignore")
    return path.read_text(), ignore.read_text() if ignore.is_file() else None


@pytest.mark.parametrize("path, extra", [(LAMBDA, "lite"), (APP, "app")], ids=["lambda", "app"])
def test_the_recipes_pass_the_lint(path, extra):
    text, ignore = _recipe(path)
    assert lint_dockerfile(text, extra, ignore) == []


_BROKEN = [
    (LAMBDA, "lite", 'cd /tmp/src && pip install --no-cache-dir ".[lite]"',
     "pip install -r /tmp/src/requirements.txt", ["no RUN pip install '.[lite]'", "hand-kept requirements"]),
    (LAMBDA, "lite", "FROM public.ecr.aws/lambda/python:3.12", "FROM public.ecr.aws/lambda/python", ["pin the base"]),
    (LAMBDA, "lite", "README.md LICENSE THIRD", "README.md THIRD", ["LICENSE is not copied"]),
    (LAMBDA, "lite", "RUN python -m movinet_crossfit.pose.model_files /opt/pose_models",
     "RUN python -m movinet_crossfit.pose.model_files /opt/models", ["MOVINET_CROSSFIT_POSE_MODELS is not /opt/models"]),
    (LAMBDA, "lite", 'CMD ["movinet_crossfit.serverless.handler"]', "CMD movinet_crossfit.serverless.handler",
     ["exec form"]),
    (LAMBDA, "lite", "&& rm -rf /tmp/src", "&& rm -rf /tmp/src && pip install tensorflow", ["installs TensorFlow"]),
    (APP, "app", '"--workers", "1"', '"--workers", "4"', ["gunicorn workers 4"]),
    (APP, "app", '"--workers", "1", ', "", ["gunicorn workers None"]),
    (APP, "app", "FROM python:3.11-slim-bookworm", "FROM python:latest", ["pin the base"]),
    (APP, "app", "USER app\n", "", ["runs as root"]),
    (APP, "app", "USER app\n", "USER root\n", ["runs as root"]),
    (APP, "app", "EXPOSE 8050\n", "", []),  # HEALTHCHECK still says the port
    (APP, "app", "ARG EXTRAS=app", "ARG EXTRAS=lite", ["no RUN pip install '.[app]'"]),
    (APP, "app", "movinet_crossfit.app.wsgi:application", "movinet_crossfit.app.server:app", ["run gunicorn on"]),
]


@pytest.mark.parametrize("path, extra, old, new, expected", _BROKEN)
def test_the_lint_fails_on_a_broken_recipe(path, extra, old, new, expected):
    text, ignore = _recipe(path)
    assert old in text
    problems = lint_dockerfile(text.replace(old, new, 1), extra, ignore)
    assert len(problems) == len(expected), problems
    for problem, wanted in zip(problems, expected):
        assert wanted in problem, problems


def test_the_lint_fails_on_what_the_build_context_leaves_out():
    text, ignore = _recipe(APP)
    assert _excluded(".venv/lib/x.py", ignore.splitlines()) and not _excluded("movinet_crossfit/app/wsgi.py",
                                                                           ignore.splitlines())
    assert any("COPY LICENSE: left out" in p for p in lint_dockerfile(text, "app", ignore.replace("!LICENSE\n", "")))
    assert any("no Dockerfile.dockerignore" in p for p in lint_dockerfile(text, "app", None))
    no_port = "\n".join(line for line in text.splitlines() if not line.startswith(("EXPOSE", "HEALTHCHECK", "    CMD")))
    assert any("no EXPOSE or HEALTHCHECK" in p for p in lint_dockerfile(no_port, "app", ignore))


def test_no_hand_kept_requirements_file_is_left_or_mentioned():
    assert not (ROOT / "deploy" / "lambda" / "requirements.txt").exists()
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "deploy").rglob("*"))]
    mentions = [str(p.relative_to(ROOT)) for p in texts if p.is_file() and "requirements.txt" in p.read_text()]
    assert mentions == []


# --- the WSGI entry -------------------------------------------------------------------------------

def _pose_models() -> Path:
    from movinet_crossfit.pose.model_files import DEFAULT_DIR, models_present

    if not models_present(DEFAULT_DIR):
        pytest.skip("BlazePose models not in pose_models/: run bash scripts/setup.sh")
    return DEFAULT_DIR


def test_importing_the_wsgi_module_loads_nothing():
    from movinet_crossfit.app import wsgi

    assert "application" not in vars(wsgi) and callable(wsgi.create_application)
    with pytest.raises(AttributeError):
        wsgi.not_there  # noqa: B018


@pytest.mark.parametrize("name, value", [("MOVINET_CROSSFIT_POSE_FPS", "fast"), ("MOVINET_CROSSFIT_POSE_FPS", "0"),
                                         ("MOVINET_CROSSFIT_MAX_UPLOAD_MB", "-5"), ("MOVINET_CROSSFIT_OVERLAY", "maybe"),
                                         ("MOVINET_CROSSFIT_BACKEND", "onnx"), ("MOVINET_CROSSFIT_VARIANT", "int4")])
def test_a_bad_setting_names_the_variable(name, value):
    from movinet_crossfit.app.wsgi import create_application

    with pytest.raises(UserError, match=f"^{name}='{value}': "):
        create_application({name: value})


def test_the_wsgi_entry_serves_the_page(tmp_path):
    from movinet_crossfit.app.wsgi import create_application

    server = create_application({"MOVINET_CROSSFIT_POSE_MODELS": str(_pose_models()),
                                 "MOVINET_CROSSFIT_MAX_UPLOAD_MB": "5", "MOVINET_CROSSFIT_OVERLAY": "0",
                                 "MOVINET_CROSSFIT_UPLOAD_DIR": str(tmp_path / "uploads")})
    client = server.test_client()
    assert client.get("/").status_code == 200
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200 and "uploads up to 5.0 MB" in layout.get_data(as_text=True)
    assert (tmp_path / "uploads").is_dir()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn_command(port: int) -> list[str]:
    """deploy/app/Dockerfile's CMD, bound to 127.0.0.1:port, run by this interpreter."""
    (command,) = [json.loads(rest) for word, rest in instructions(APP.read_text()) if word == "CMD"]
    bind = command.index("--bind")
    command[bind + 1] = f"127.0.0.1:{port}"
    return [sys.executable, "-m", "gunicorn", *command[1:]]


def test_gunicorn_serves_the_page_with_the_dockerfile_command(tmp_path):
    """One worker boots, GET / answers 200, SIGTERM stops it; a bad setting stops gunicorn at once
    with the variable named (not a worker restarted forever)."""
    pytest.importorskip("gunicorn", reason="gunicorn is in the [app] extra: run bash scripts/setup.sh")
    port = _free_port()
    env = {**os.environ, "MOVINET_CROSSFIT_POSE_MODELS": str(_pose_models()), "MOVINET_CROSSFIT_PROGRESS": "0"}
    log = tmp_path / "gunicorn.log"
    with open(log, "w") as sink:
        server = subprocess.Popen(_gunicorn_command(port), cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            status, deadline = None, time.monotonic() + 180
            while status is None and time.monotonic() < deadline and server.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                        status = response.status
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.5)
            assert status == 200, log.read_text()[-3000:]
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=60)
    text = log.read_text()
    assert code == 0 and text.count("Booting worker with pid") == 1, text[-3000:]
    assert "WSGI app ready (poses only)" in text
    env["MOVINET_CROSSFIT_POSE_FPS"] = "fast"
    failed = subprocess.run(_gunicorn_command(_free_port()), cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert failed.returncode != 0 and "MOVINET_CROSSFIT_POSE_FPS='fast'" in failed.stdout + failed.stderr


# --- the images, where Docker is --------------------------------------------------------------------

def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_available(), reason="no Docker daemon (`docker info` fails): the lint above checks "
                                                    "the recipes")
def test_both_images_build_and_run():
    tags = {"lambda": "movinet-crossfit-lambda:test", "app": "movinet-crossfit-app:test"}
    for name, path in (("lambda", LAMBDA), ("app", APP)):
        built = subprocess.run(["docker", "build", "-f", str(path), "-t", tags[name], str(ROOT)],
                               capture_output=True, text=True, timeout=3600)
        assert built.returncode == 0, built.stderr[-4000:]
    probe = ("import importlib.util as u, movinet_crossfit.serverless as s; "
             "assert u.find_spec('tensorflow') is None and u.find_spec('dash') is None; "
             "assert 'Apache License' in open('/opt/pose_models/NOTICE').read(); "
             "assert open('/opt/licenses/LICENSE').read().startswith('MIT'); print('ok')")
    done = subprocess.run(["docker", "run", "--rm", "--entrypoint", "python", tags["lambda"], "-c", probe],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    container = subprocess.run(["docker", "run", "-d", "-p", "127.0.0.1::8050", tags["app"]],
                               capture_output=True, text=True, timeout=120).stdout.strip()
    try:
        port = subprocess.run(["docker", "port", container, "8050"], capture_output=True, text=True,
                              timeout=60).stdout.split(":")[-1].strip()
        status, deadline = None, time.monotonic() + 300
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                    status = response.status
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        user = subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
        assert status == 200 and user not in ("", "0"), (status, user)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=120)
