#!/usr/bin/env bash
# The checks a maintainer runs before the tests: ruff (lint, import order) and mypy (strict on clipgit.core).
# mypy reads the sources under their installed names (clipgit.core, clipgit.tui) through a tree of links.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
mkdir -p .typecheck/clipgit
ln -sfn ../../core .typecheck/clipgit/core
ln -sfn ../../tui .typecheck/clipgit/tui
mypy -p clipgit.core -p clipgit.tui
