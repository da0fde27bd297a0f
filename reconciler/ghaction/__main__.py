"""``python -m reconciler.ghaction``: what action.yml runs."""

import sys

from reconciler.ghaction.main import main

sys.exit(main())
