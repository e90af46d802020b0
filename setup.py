"""Install the folders core/ and tui/ as `clipgit.core` and `clipgit.tui`: one top-level name, `clipgit`.

Why a setup.py beside pyproject.toml: setuptools' package finder names what it
finds after the folders (`core.lab`), and the installed names need a prefix
(`clipgit.core.lab`); the sub-packages are found here rather than listed by hand.
"""

from setuptools import find_namespace_packages, find_packages, setup

ROOTS = ("core", "tui")
found = find_packages(include=[f"{root}{tail}" for root in ROOTS for tail in ("", ".*")])
# the demo models' folders hold data only; named here, setuptools ships them without warning that they "would
# be ignored" (about 80 lines of it on every `make demo`)
found += find_namespace_packages(include=["core.demo_models", "core.demo_models.*"])
setup(
    packages=[f"clipgit.{name}" for name in found],
    package_dir={f"clipgit.{root}": root for root in ROOTS},
)
