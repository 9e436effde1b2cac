"""The Colab notebooks: each runs top to bottom in its offline small mode; their setup cell (install,
restart, Drive) and their "Open in Colab" badges are checked without running the notebooks."""
from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_finetune_notebook_runs_in_small_mode(tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "finetune_movinet.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\nSMALL = True\nWORK = {str(tmp_path / 'work')!r}\n"
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Colab: False" in outputs and "TensorFlow 2." in outputs  # the setup and GPU-check cells
    assert "accuracy" in outputs
    assert (tmp_path / "work" / "export" / "model_fp32.tflite").is_file()
    assert (tmp_path / "work" / "run" / "eval_test" / "metrics.json").is_file()
    assert " -> " in outputs  # the prediction line


def test_count_reps_notebook_runs_in_small_mode(tmp_path):
    notebook = nbformat.read(NOTEBOOKS / "count_reps.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\nSMALL = True\nWORK = {str(tmp_path / 'work')!r}\n"
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Colab: False" in outputs and "TensorFlow 2." in outputs  # the setup and GPU-check cells
    assert "true reps" in outputs and "count " in outputs
    assert "TFLite count" in outputs
    assert (tmp_path / "work" / "count.png").stat().st_size > 10_000
    assert (tmp_path / "work" / "export" / "repnet_fp32.tflite").is_file()


def test_analyze_notebook_runs_in_small_mode(tmp_path):
    """Real clips (joined) through poses, count, verdicts, thumbnails, overlay and pace chart."""
    from conftest import SHARED_DATA

    notebook = nbformat.read(NOTEBOOKS / "analyze_footage.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += f"\nSMALL = True\nWORK = {str(tmp_path / 'work')!r}\nSHARED_DATA = {str(SHARED_DATA)!r}\n"
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # rich's colours in Jupyter's plain-text form
    assert "Colab: False" in text and "BlazePose models in" in text
    assert "6 real Games thruster clips joined" in text
    assert "movement: thruster" in text
    reps = [line for line in text.splitlines() if line.startswith("rep ")]
    assert 5 <= len(reps) <= 7 and sum("valid" in line for line in reps) >= len(reps) - 1
    assert sum("image/jpeg" in o.get("data", {}) for o in outputs) == len(reps)  # a deciding frame per rep
    assert (tmp_path / "work" / "overlay.mp4").stat().st_size > 10_000
    assert (tmp_path / "work" / "pace.png").stat().st_size > 5_000


# --- the setup cell and the badges, without executing the notebooks ---------------------------------

NAMES = ("finetune_movinet", "count_reps", "analyze_footage")
PLACEHOLDER_HOME = "https://github.com/movinet-crossfit/movinet-crossfit"

# Runs one setup cell (stdin) in a fresh interpreter: movinet_crossfit made unimportable by a finder
# that refuses it (until the stand-in pip "installs" it), pip replaced by a recorder.
HARNESS = r'''
import importlib.abc, importlib.metadata, json, subprocess, sys, types
case = json.loads(sys.argv[1])

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "movinet_crossfit":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

refuse = Refuse()
if not case["importable"]:
    sys.meta_path.insert(0, refuse)
if case.get("tensorflow_loaded"):
    sys.modules["tensorflow"] = types.SimpleNamespace(__version__="0.0.1")
if case.get("replaces"):
    __import__(case["replaces"]["module"])
calls, installed = [], []
real_version = importlib.metadata.version

def version(dist):
    if installed and case.get("replaces") and dist == case["replaces"]["dist"]:
        return "99.0"
    return real_version(dist)

def pip(argv, **kwargs):
    calls.append(argv)
    installed.append(True)
    if refuse in sys.meta_path:
        sys.meta_path.remove(refuse)
    return subprocess.CompletedProcess(argv, 0, "", "")

importlib.metadata.version = version
subprocess.run = pip
source = sys.stdin.read()
try:
    exec(compile(source, "setup-cell", "exec"), {"__name__": "__main__"})
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps({"error": error, "calls": calls}))
'''


def _tagged(name: str, tag: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return next(c for c in notebook.cells if tag in c.metadata.get("tags", []))


def _run_setup(name: str, install_from: str = "", **case) -> dict:
    source = _tagged(name, "setup").source
    source, found = re.subn(r'^INSTALL_FROM = ""', f"INSTALL_FROM = {install_from!r}", source, count=1,
                            flags=re.M)
    assert found, f"{name}: the setup cell has no `INSTALL_FROM = \"\"` line"
    case.setdefault("importable", False)
    done = subprocess.run([sys.executable, "-c", HARNESS, json.dumps(case)], input=source, text=True,
                          capture_output=True, timeout=120, cwd=NOTEBOOKS)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert line, done.stdout + done.stderr
    return json.loads(line[len("RESULT "):])


def _extras(name: str) -> str:
    return re.search(r'^EXTRAS = "([^"]*)"', _tagged(name, "setup").source, flags=re.M).group(1)


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_is_first_and_stops_when_nothing_is_given(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code")
    assert "setup" in first.metadata.get("tags", [])
    result = _run_setup(name)
    assert result["error"] and result["error"].startswith("SetupNeeded: movinet_crossfit is not installed")
    assert "Set INSTALL_FROM" in result["error"]
    assert result["calls"] == []


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_installs_what_is_given_with_the_extras(name, tmp_path):
    package = f"movinet-crossfit[{_extras(name)}]" if _extras(name) else "movinet-crossfit"
    wheel = tmp_path / "movinet_crossfit-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    given = {
        "https://github.com/someone/movinet-crossfit@main": "git+https://github.com/someone/movinet-crossfit@main",
        "https://example.org/dist/movinet_crossfit-0.1.0-py3-none-any.whl":
            "https://example.org/dist/movinet_crossfit-0.1.0-py3-none-any.whl",
        str(wheel): wheel.as_uri(),
        str(tmp_path): tmp_path.as_uri(),  # a folder holding the repo (a Drive folder on Colab)
    }
    for source, url in given.items():
        result = _run_setup(name, source)
        assert result["error"] is None, (source, result)
        assert result["calls"] == [[sys.executable, "-m", "pip", "install", "-q", f"{package} @ {url}"]]
    missing = _run_setup(name, str(tmp_path / "nowhere"))
    assert missing["calls"] == [] and "nowhere does not exist" in missing["error"]


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_asks_for_a_restart_when_pip_replaced_what_was_loaded(name):
    replaced = _run_setup(name, "https://github.com/someone/movinet-crossfit",
                          replaces={"module": "yaml", "dist": "PyYAML"})
    assert replaced["error"].startswith("SetupNeeded: Restart needed")
    assert "PyYAML" in replaced["error"] and "99.0" in replaced["error"]
    # Colab's own TensorFlow already imported while another is installed: the same stop, with nothing to install.
    colab_tf = _run_setup(name, importable=True, tensorflow_loaded=True)
    assert colab_tf["calls"] == [] and "tensorflow 0.0.1 ->" in colab_tf["error"]


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_does_nothing_when_the_package_imports(name):
    result = _run_setup(name, "https://github.com/someone/movinet-crossfit", importable=True)
    assert result == {"error": None, "calls": []}


def _home() -> str:
    """The repository's home: setup.cfg's url once it has one, the placeholder the docs name until then."""
    config = configparser.ConfigParser()
    config.read(NOTEBOOKS.parent / "setup.cfg")
    return config.get("metadata", "url", fallback=PLACEHOLDER_HOME).rstrip("/")


def _badge(name: str) -> str:
    colab = _home().replace("https://github.com/", "https://colab.research.google.com/github/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab}/blob/main/notebooks/{name}.ipynb)")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_with_its_colab_badge(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert notebook.cells[0].cell_type == "markdown" and _badge(name) in notebook.cells[0].source
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    assert _badge(name) in readme


def test_every_colab_link_in_the_docs_opens_a_notebook_of_this_repository():
    root = NOTEBOOKS.parent
    colab = _home().replace("https://github.com/", "https://colab.research.google.com/github/")
    links = [(page.name, link) for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
             for link in re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", page.read_text())]
    assert len(links) >= len(NAMES)
    for page, link in links:
        assert link.startswith(f"{colab}/blob/main/notebooks/"), (page, link)
        assert (root / link.split("/blob/main/", 1)[1]).is_file(), (page, link)


@pytest.mark.parametrize("name", NAMES)
def test_setup_cell_installs_extras_that_exist_and_cover_the_notebooks_imports(name):
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    from movinet_crossfit.core.extras import MODULES

    config = configparser.ConfigParser()
    config.read(NOTEBOOKS.parent / "setup.cfg")
    declared = set(config["options.extras_require"])
    extras = {extra.strip() for extra in _extras(name).split(",") if extra.strip()}
    assert extras and extras <= declared, (extras, declared)
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    imported = set()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for node in ast.walk(ast.parse(TransformerManager().transform_cell(cell.source))):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.partition(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module.partition(".")[0])
    needed = {MODULES[module][1] for module in imported if module in MODULES} - {None}
    # An extra that pulls in another's packages covers it (tf brings pandas and matplotlib).
    covered = set(extras)
    for extra in extras:
        packages = {re.split(r"[<>=!~\[ ;]", line.strip())[0].lower()
                    for line in config["options.extras_require"][extra].splitlines() if line.strip()}
        covered |= {MODULES[m][1] for m in MODULES if MODULES[m][1] and MODULES[m][0].lower() in packages}
    assert needed <= covered, f"{name}: imports need the extras {sorted(needed - covered)}; EXTRAS = {extras}"
