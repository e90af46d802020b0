"""`python -m clipgit.tui.cli`: how a client starts the warm service (`service run`)."""

import sys

from clipgit.tui.cli import main

sys.exit(main())
