"""Maps the repository's data folders into the wheel; pyproject.toml holds everything else.

``profiles/`` stays at the top level of the repository: it is the documented, fixed place where
a workshop reads and edits its minimum-spec and operator profiles, and where tests and
``BENCH_AGENT_PROFILES`` point. The recorded Pentium 4 evidence bundle stays a test fixture. The
wheel carries both as package data under ``bench_agent/_data/`` (``bench_agent.resources``
finds them there when installed, in the checkout otherwise), so no file is copied by hand.
"""

from setuptools import find_namespace_packages, setup

DATA_PACKAGES = {
    "bench_agent._data.profiles": "profiles",
    "bench_agent._data.evidence": "tests/fixtures/evidence",
}

setup(
    # Namespace discovery, as pyproject's packages.find did: the folders without __init__.py
    # (locale/, the dashboard's static/ and templates/) are package data carriers too.
    packages=[
        *find_namespace_packages(
            include=["bench_agent", "bench_agent.*"], exclude=["*.__pycache__"]
        ),
        *DATA_PACKAGES,
    ],
    package_dir=DATA_PACKAGES,
)
