"""``python -m aevb``: see aevb.cli."""
import sys

from aevb.cli import main

sys.exit(main())
