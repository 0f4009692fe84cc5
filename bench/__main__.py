"""``python -m bench`` is the ``ventbench`` command."""

import sys

from bench.cli import main

sys.exit(main())
