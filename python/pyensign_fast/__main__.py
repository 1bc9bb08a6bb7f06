"""``python -m pyensign_fast``: the ``pyensign-fast`` command."""

import sys

from pyensign_fast.cli import main

sys.exit(main())
