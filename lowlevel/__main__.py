"""``python -m lowlevel``: the command line."""

import sys

from lowlevel.apps.cli import main

sys.exit(main())
