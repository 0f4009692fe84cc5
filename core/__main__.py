"""``python -m ventbench`` is the ``ventbench`` command."""

import sys

from ventbench.bench.cli import main

sys.exit(main())
