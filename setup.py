"""Maps the repository's data folders into the wheel; pyproject.toml holds everything else.

``profiles/`` stays at the top level of the repository: it is the documented, fixed place where
a workshop reads and edits its minimum-spec and operator profiles, and where tests and
``BENCH_AGENT_PROFILES`` point. The recorded Pentium 4 evidence bundle stays a test fixture. The
wheel carries both as package data under ``bench_agent/_data/`` (``bench_agent.resources``
finds them there when installed, in the checkout otherwise), so no file is copied by hand.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {
    "bench_agent._data.profiles": "profiles",
    "bench_agent._data.evidence": "tests/fixtures/evidence",
}

setup(
    packages=[*find_packages(include=["bench_agent", "bench_agent.*"]), *DATA_PACKAGES],
    package_dir=DATA_PACKAGES,
)
