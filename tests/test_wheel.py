"""The wheel alone (no checkout) runs ``bench-agent profiles`` and the whole ``bench-agent demo``.

The sources the wheel is built from are copied out of the working tree first (the package, the
top-level ``profiles/``, the recorded Pentium 4 bundle and the build files): the build never
writes into the checkout, and a file the wheel forgets to carry cannot be found through it. The
wheel is installed into a fresh virtualenv with its dependencies from PyPI (pip's cache makes
later runs fast), and run from a directory outside the checkout with no path pointing back to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.test_demo import assert_whole_cycle

pytestmark = [pytest.mark.slow, pytest.mark.device]

REPO = Path(__file__).resolve().parent.parent
EVIDENCE = Path("tests") / "fixtures" / "evidence" / "pentium4-desktop"
BUNDLED_PROFILES = {"besancon-2003", "modern-2024", "pentium4", "test-bench"}
BUNDLED_OPERATORS = {"default", "english", "four-keys", "one-switch", "two-switch"}


def _run(cmd: list[str], *, timeout: int, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, (
        f"{cmd[:4]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done  # type: ignore[no-any-return]


def _sources(into: Path) -> Path:
    src = into / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "bench_agent", src / "bench_agent", ignore=ignore)
    shutil.copytree(REPO / "profiles", src / "profiles", ignore=ignore)
    shutil.copytree(REPO / EVIDENCE, src / EVIDENCE)
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, src / name)
    return src


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel and its dependencies (ledger extra: the demo's)."""
    work = tmp_path_factory.mktemp("wheel")
    src = _sources(work)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--disable-pip-version-check", "--no-deps",
         "-w", str(work / "dist"), str(src)],
        timeout=300,
    )  # fmt: skip
    # setup.py names every data folder Python could import (profiles/operators): no warning.
    assert "Package would be ignored" not in built.stdout + built.stderr
    assert "Successfully built bench-agent" in built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("bench_agent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bench_agent/_data/profiles/pentium4.toml" in names
    assert "bench_agent/_data/profiles/operators/four-keys.toml" in names
    assert "bench_agent/_data/evidence/pentium4-desktop/smartctl/sda.txt" in names
    assert "bench_agent/locale/fr/LC_MESSAGES/bench_agent.mo" in names  # what gettext loads
    assert not any(n.startswith(("profiles/", "tests/")) for n in names), "data outside the package"
    # Every file of the package is carried: modules, translations, the dashboard's templates
    # and static files, the TUI's stylesheet, the migrations.
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "bench_agent"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    missing = sorted(f for f in set(tracked) - set(names) if (REPO / f).exists())
    assert tracked and not missing, missing
    venv = work / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", str(venv)], timeout=120)
    _run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         f"{wheel}[ledger]"],
        timeout=600,
    )  # fmt: skip
    return venv


def _outside_env(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(BENCH_AGENT_HOME=str(home), BENCH_LANG="en", PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def test_installed_wheel_lists_profiles_and_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    require_root()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _outside_env(tmp_path / "station")
    agent = str(installed / "bin" / "bench-agent")

    def python(code: str) -> str:
        """The venv's Python runs ``code`` from outside the checkout; its output."""
        argv = [str(installed / "bin" / "python"), "-c", code]
        return _run(argv, timeout=60, cwd=elsewhere, env=env).stdout

    # The agent imported by the venv is the installed copy, not the checkout.
    where = python("import bench_agent; print(bench_agent.__file__)").strip()
    assert where.startswith(str(installed)) and not where.startswith(str(REPO)), where

    listed = _run([agent, "--lang", "en", "profiles"], timeout=60, cwd=elsewhere, env=env).stdout
    for name in BUNDLED_PROFILES:
        assert name in listed, listed

    operators = python(
        "from bench_agent.tui.operators import operator_dirs;"
        "print(sorted(p.stem for d in operator_dirs() if d.is_dir() for p in d.glob('*.toml')))"
    )
    for name in BUNDLED_OPERATORS:
        assert name in operators, operators
    training = python(
        "from bench_agent.tui.training import BUNDLED_EVIDENCE as e;"
        "print(e, (e / 'smartctl' / 'sda.txt').is_file())"
    ).split()
    assert training[0].startswith(str(installed)) and training[1] == "True", training

    # The compiled French catalogue is found in the installed package: messages, contexts,
    # plurals.
    french = _run([agent, "--lang", "fr", "--help"], timeout=60, cwd=elsewhere, env=env).stdout
    assert "Banc de reconditionnement" in french, french
    words = python(
        "from bench_agent.i18n import set_language, pgettext, ngettext; set_language('fr');"
        "print(pgettext('step', 'image'), '|',"
        " ngettext('{count} reallocated sector', '{count} reallocated sectors', 2))"
    )
    assert words.strip() == "l'image | 2 secteurs réalloués", words

    done = _run([agent, "--lang", "en", "demo", "--json"], timeout=600, cwd=elsewhere, env=env)
    result = json.loads(done.stdout[done.stdout.index("{\n") :])
    assert_whole_cycle(result)
    assert "Building the test master image" in done.stdout  # built by the wheel, no script
    assert not Path(result["workdir"]).exists()
