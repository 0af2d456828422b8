"""Maps the repository's data folders into the wheel; pyproject.toml holds everything else.

``profiles/`` stays at the top level of the repository: it is the documented, fixed place where
a workshop reads and edits its minimum-spec and operator profiles, and where tests and
``BENCH_AGENT_PROFILES`` point. The recorded Pentium 4 evidence bundle stays a test fixture. The
wheel carries both as package data under ``bench_agent/_data/`` (``bench_agent.resources``
finds them there when installed, in the checkout otherwise), so no file is copied by hand.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

DATA_PACKAGES = {
    "bench_agent._data.profiles": "profiles",
    "bench_agent._data.evidence": "tests/fixtures/evidence",
}


def data_subpackages() -> list[str]:
    """The mapped folders' subfolders Python could import (``profiles/operators``): setuptools
    warns about each one it is not told of, and carries their files either way."""
    found = []
    for package, folder in DATA_PACKAGES.items():
        for path in sorted(Path(folder).rglob("*")):
            parts = path.relative_to(folder).parts
            if (
                path.is_dir()
                and "__pycache__" not in parts
                and all(p.isidentifier() for p in parts)
            ):
                found.append(".".join((package, *parts)))
    return found


setup(
    # Namespace discovery, as pyproject's packages.find did: the folders without __init__.py
    # (locale/, the dashboard's static/ and templates/) are package data carriers too.
    packages=[
        *find_namespace_packages(
            include=["bench_agent", "bench_agent.*"], exclude=["*.__pycache__"]
        ),
        *DATA_PACKAGES,
        *data_subpackages(),
    ],
    package_dir=DATA_PACKAGES,
)
