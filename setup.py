"""Install the folders core/ and tui/ as `clipgit.core` and `clipgit.tui`: one top-level name, `clipgit`.

Why a setup.py beside pyproject.toml: setuptools' package finder names what it
finds after the folders (`core.lab`), and the installed names need a prefix
(`clipgit.core.lab`); the sub-packages are found here rather than listed by hand.
"""

from setuptools import find_packages, setup

ROOTS = ("core", "tui")
found = find_packages(include=[f"{root}{tail}" for root in ROOTS for tail in ("", ".*")])
setup(
    packages=[f"clipgit.{name}" for name in found],
    package_dir={f"clipgit.{root}": root for root in ROOTS},
)
