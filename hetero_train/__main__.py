"""`python -m hetero_train` is the same as `hetero-train`."""

import sys

from .cli import main

sys.exit(main())
