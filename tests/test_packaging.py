"""What setup.cfg declares against what the package imports and what each deployment needs.

* every third-party module imported anywhere in movinet_crossfit/ (lazy imports included) is in
  ``core.extras.MODULES``, and setup.cfg declares its distribution where that table says;
* the [lite] install (core + lite) has no TensorFlow anywhere in its dependency tree, and the Lambda
  handler analyses a real clip with every module outside that tree made unimportable; the same for
  the [app] install and the WSGI entry; the plain install's CLI starts;
* LICENSE and THIRD_PARTY_NOTICES.md are in the wheel and the sdist; the BlazePose NOTICE is written
  beside the models.
"""
from __future__ import annotations

import ast
import configparser
import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from movinet_crossfit.core import extras

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "movinet_crossfit"
HEAVY = {"tensorflow", "tensorflow-cpu", "tf-keras", "keras", "tf-models-official", "tensorflow-hub", "jax", "torch"}


# --- setup.cfg ------------------------------------------------------------------------------------

def declared(setup_cfg: Path = ROOT / "setup.cfg") -> dict[str | None, dict[str, Requirement]]:
    """setup.cfg's requirements: None -> install_requires, else the extra's; by canonical name."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)

    def parse(text: str) -> dict[str, Requirement]:
        reqs = [Requirement(line) for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        return {canonicalize_name(r.name): r for r in reqs}

    groups = {None: parse(parser.get("options", "install_requires"))}
    for extra, text in parser.items("options.extras_require"):
        groups[extra] = parse(text)
    return groups


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Top-level third-party module -> the files importing it (absolute imports, lazy ones too)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != package.name and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(package.parent)))
    return found


def undeclared_imports(package: Path, groups: dict, modules: dict = extras.MODULES) -> list[str]:
    """One line per import that setup.cfg (through ``modules``) does not account for."""
    problems = []
    for top, files in sorted(imported_modules(package).items()):
        where = ", ".join(sorted(files))
        if top not in modules:
            problems.append(f"{top} (imported by {where}) is not in core/extras.py MODULES: add it there "
                            "with its distribution and the extra that declares it, and declare it in setup.cfg")
            continue
        distribution, extra = modules[top]
        if extra not in groups:
            problems.append(f"{top}: core/extras.py names the extra [{extra}], which setup.cfg does not have")
        elif canonicalize_name(distribution) not in groups[extra]:
            problems.append(f"{top} (imported by {where}) comes from {distribution}, which setup.cfg does not "
                            f"declare in {'install_requires' if extra is None else f'[{extra}]'}")
    return problems


def test_every_third_party_import_is_declared():
    assert undeclared_imports(PACKAGE, declared()) == []


def test_the_import_check_fails_on_an_undeclared_import(tmp_path):
    package = tmp_path / "movinet_crossfit"
    (package / "data").mkdir(parents=True)
    (package / "data" / "fetch.py").write_text("def get():\n    import requests\n    import yt_dlp\n")
    (package / "core.py").write_text("import numpy as np\nfrom movinet_crossfit import data\nimport json\n")
    groups = declared()
    without_download = {k: v for k, v in groups.items() if k != "download"}
    problems = undeclared_imports(package, without_download)
    assert len(problems) == 2, problems
    assert problems[0].startswith("requests (imported by movinet_crossfit/data/fetch.py) is not in")
    assert "[download]" in problems[1]
    moved = dict(extras.MODULES, yt_dlp=("yt-dlp", "lite"))
    assert any("does not declare in [lite]" in p for p in undeclared_imports(package, groups, moved))


def test_the_module_table_matches_setup_cfg():
    groups = declared()
    runtime = [extra for extra in groups if extra not in (None, "all", "test")]
    assert set(runtime) == {"lite", "tf", "plots", "app", "download", "beam"}
    for top, (distribution, extra) in extras.MODULES.items():
        assert canonicalize_name(distribution) in groups[extra], (top, distribution, extra)
    # [all] is every runtime extra, so setup.sh's .[all,test] installs what every test needs.
    everything = {name for extra in runtime for name in groups[extra]}
    assert set(groups["all"]) == everything
    for extra in runtime:
        for name, req in groups[extra].items():
            assert str(groups["all"][name].specifier) == str(req.specifier), (extra, name)
    # No stale entries: each module is imported by the package (gunicorn: by deploy/app's CMD).
    assert set(extras.MODULES) - set(imported_modules(PACKAGE)) == {"gunicorn"}
    assert HEAVY.isdisjoint(groups[None]) and HEAVY.isdisjoint(groups["lite"]) and HEAVY.isdisjoint(groups["app"])


def test_setup_sh_installs_every_extra_and_the_tests():
    text = (ROOT / "scripts" / "setup.sh").read_text()
    assert "pip install -q -e '.[all,test]'" in text


def test_a_missing_extra_is_named_in_one_line():
    error = ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow.python")
    message = extras.missing_extra_message(error)
    assert message is not None and "\n" not in message
    assert "[tf]" in message and "pip install 'movinet-crossfit[tf]'" in message and "-e '.[tf]'" in message
    assert "[download]" in extras.missing_extra_message(ModuleNotFoundError(name="yt_dlp"))
    assert "[lite]" in extras.missing_extra_message(ModuleNotFoundError(name="ai_edge_litert.interpreter"))
    # A core module missing is a broken install, an unknown one a bug: their tracebacks stay.
    assert extras.missing_extra_message(ModuleNotFoundError(name="numpy")) is None
    assert extras.missing_extra_message(ModuleNotFoundError(name="requests")) is None
    assert extras.missing_extra_message(ImportError("cannot import name x")) is None


# --- each deployment's dependency tree, and running in it ------------------------------------------

def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution a set of requirements installs (markers evaluated here; from the
    installed distributions' metadata: scripts/setup.sh installs every extra)."""
    seen: set[tuple[str, frozenset]] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} is declared but not installed: run bash scripts/setup.sh")
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in {"", *req.extras}):
                todo.append(sub)
    return {name for name, _ in seen}


def install_set(*extra_names: str) -> set[str]:
    groups = declared()
    return closure([*groups[None].values(), *(r for e in extra_names for r in groups[e].values())])


def foreign_modules(distributions: set[str]) -> list[str]:
    """Top-level modules of installed distributions outside ``distributions``: what a clean
    install of just those would not have."""
    owners = metadata.packages_distributions()
    allowed = {top for top, dists in owners.items() if any(canonicalize_name(d) in distributions for d in dists)}
    return sorted(set(owners) - allowed - {"movinet_crossfit"})


def test_the_lite_install_has_no_tensorflow_and_the_app_install_neither():
    lite, app, core = install_set("lite"), install_set("app"), install_set()
    assert {"ai-edge-litert", "numpy", "scipy", "opencv-python-headless", "boto3"} <= lite
    assert {"dash", "gunicorn", "ai-edge-litert"} <= app
    for name, tree in (("core", core), ("lite", lite), ("app", app)):
        assert HEAVY.isdisjoint(tree), (name, sorted(HEAVY & tree))
    assert {"pandas", "matplotlib", "yt-dlp", "dash"}.isdisjoint(lite) and "ai-edge-litert" not in core
    # The check can fail: the full install has TensorFlow.
    assert "tensorflow" in install_set("tf")


# Makes every module outside the deployment's dependency tree unimportable, as on a clean install.
_BLOCKER = """
import sys
STARTUP = set(sys.modules)  # site's .pth imports, before any of ours
BLOCKED = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in this install")
sys.meta_path.insert(0, Block())
try:
    import tensorflow
    raise SystemExit("the blocker let tensorflow in")
except ImportError:
    pass
"""

_HANDLER = _BLOCKER + """
import base64, json, os
from movinet_crossfit import serverless
video = sys.argv[2]
event = {"body": base64.b64encode(open(video, "rb").read()).decode(), "isBase64Encoded": True}
response = serverless.handler(event, None)
body = json.loads(response["body"])
print(json.dumps({"status": response["statusCode"], "body": body,
                  "modules": sorted({m.split(".")[0] for m in set(sys.modules) - STARTUP})}))
"""


def _pose_models() -> Path:
    from movinet_crossfit.pose.model_files import DEFAULT_DIR, models_present

    if not models_present(DEFAULT_DIR):
        pytest.skip("BlazePose models not in pose_models/: run bash scripts/setup.sh")
    return DEFAULT_DIR


def _run(script: str, blocked: list[str], *args: str, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", script, ",".join(blocked), *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})}, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_lambda_handler_runs_on_the_lite_install_alone(cfmove_clips, tmp_path):
    """What deploy/lambda/Dockerfile installs (.[lite]) is enough: a real clip, poses only, with
    every module of a distribution outside the [lite] tree unimportable."""
    blocked = foreign_modules(install_set("lite"))
    assert {"tensorflow", "pandas", "dash", "matplotlib"} <= set(blocked)
    out = _run(_HANDLER, blocked, str(cfmove_clips / "thruster" / "thruster_2.mp4"),
               env={"MOVINET_CROSSFIT_POSE_MODELS": str(_pose_models()), "MOVINET_CROSSFIT_CACHE": str(tmp_path)})
    assert out["status"] == 200, out["body"]
    # BlazePose ran (on LiteRT) and found the athlete in the clip's frames.
    assert out["body"]["frames"] == 23 and out["body"]["poses_found"] > 0.5, out["body"]
    assert "ai_edge_litert" in out["modules"] and set(blocked).isdisjoint(out["modules"]), \
        sorted(set(blocked) & set(out["modules"]))


_APP = _BLOCKER + """
import json, os
from movinet_crossfit.app.wsgi import create_application
server = create_application(os.environ)
client = server.test_client()
print(json.dumps({"page": client.get("/").status_code, "layout": client.get("/_dash-layout").status_code,
                  "modules": sorted({m.split(".")[0] for m in set(sys.modules) - STARTUP})}))
"""


def test_the_app_runs_on_the_app_install_alone(tmp_path):
    """What deploy/app/Dockerfile installs (.[app]) is enough for the page and its WSGI entry."""
    blocked = foreign_modules(install_set("app"))
    assert {"tensorflow", "pandas", "matplotlib", "boto3"} <= set(blocked)
    out = _run(_APP, blocked, env={"MOVINET_CROSSFIT_POSE_MODELS": str(_pose_models()),
                                   "MOVINET_CROSSFIT_UPLOAD_DIR": str(tmp_path)})
    assert out["page"] == 200 and out["layout"] == 200
    assert {"dash", "flask", "ai_edge_litert"} <= set(out["modules"]) and set(blocked).isdisjoint(out["modules"])


_PLAIN_CLI = _BLOCKER + """
import contextlib, io, json
from movinet_crossfit.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["--help"])
        code = 0
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "help": out.getvalue()}))
"""


def test_the_plain_install_cli_starts():
    """`pip install movinet-crossfit` (no extra) has a CLI: every command module imports."""
    blocked = foreign_modules(install_set())
    assert {"ai_edge_litert", "tensorflow", "dash", "yt_dlp"} <= set(blocked)
    out = _run(_PLAIN_CLI, blocked)
    assert out["code"] == 0 and "manifest" in out["help"] and "train" in out["help"]


# --- licenses -------------------------------------------------------------------------------------

def test_license_and_notices_name_what_they_must():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "movinet-crossfit contributors" in license_text
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    assert parser.get("metadata", "license") == "MIT"
    assert parser.get("metadata", "license_files").split() == ["LICENSE", "THIRD_PARTY_NOTICES.md"]
    from movinet_crossfit.pose import model_files

    notices = (ROOT / "THIRD_PARTY_NOTICES.md").read_text()
    card = "https://storage.googleapis.com/mediapipe-assets/Model%20Card%20BlazePose%20GHUM%203D.pdf"
    for needed in (model_files.DETECTOR, model_files.LANDMARKER, model_files.WHEEL_REQUIREMENT,
                   "Apache License", "TERMS AND CONDITIONS FOR USE", card):
        assert needed in notices, needed
        assert needed in model_files.NOTICE or needed == "TERMS AND CONDITIONS FOR USE", needed


def test_the_wheel_and_the_sdist_carry_the_license_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md", "LICENSE", "THIRD_PARTY_NOTICES.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "movinet_crossfit", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                           "b.build_wheel('dist'); b.build_sdist('dist')"],
                          cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel_path,), (sdist_path,) = (source / "dist").glob("*.whl"), (source / "dist").glob("*.tar.gz")
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        meta = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {Path(n).name for n in names if ".dist-info/" in n} >= {"LICENSE", "THIRD_PARTY_NOTICES.md"}
    assert "movinet_crossfit/judging/standards.yaml" in names
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    unconditional = {canonicalize_name(Requirement(r).name) for r in requires if ";" not in r}
    assert unconditional == set(declared()[None]) and HEAVY.isdisjoint(unconditional)
    assert 'ai-edge-litert>=1.2; extra == "lite"' in requires
    with tarfile.open(sdist_path) as sdist:
        top = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in sdist.getnames() if len(Path(n).parts) > 1}
    assert {"LICENSE", "THIRD_PARTY_NOTICES.md", "movinet_crossfit/judging/standards.yaml"} <= top


def test_the_blazepose_notice_is_written_beside_the_models(tmp_path):
    from movinet_crossfit.pose import model_files

    models = _pose_models()
    wheel = tmp_path / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, (member, _) in model_files.MEMBERS.items():
            archive.write(models / name, member)
    folder = model_files.fetch_models(tmp_path / "models", wheel=wheel)
    notice = folder / model_files.NOTICE_FILE
    assert notice.read_text() == model_files.NOTICE
    assert "Apache License, Version 2.0" in model_files.NOTICE and model_files.DETECTOR in model_files.NOTICE
    # A folder filled before notices existed gets one on the next (otherwise no-op) fetch.
    notice.unlink()
    model_files.fetch_models(folder)
    assert notice.read_text() == model_files.NOTICE
    assert sorted(p.name for p in folder.iterdir()) == sorted([*model_files.MEMBERS, model_files.NOTICE_FILE])
