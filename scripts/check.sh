#!/usr/bin/env bash
# The checks a maintainer runs before the tests: ruff (lint, import order) and mypy (strict on clipgit.core; the
# app and the tests checked too, untyped bodies included, and no `type: ignore` that has become unneeded).
# mypy reads the sources under their installed names (clipgit.core, clipgit.tui) through a tree of links; the
# tests as the package `tests`, from here.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
mkdir -p .typecheck/clipgit
ln -sfn ../../core .typecheck/clipgit/core
ln -sfn ../../tui .typecheck/clipgit/tui
mypy -p clipgit.core -p clipgit.tui -p tests
