"""``python -m local.bench``: what ``make bench`` runs."""

import sys

from local.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
