"""``python -m sloserve``: the same command line as ``sloserve``."""
import sys

from .cli import main

sys.exit(main())
