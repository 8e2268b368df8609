"""`python -m kdsurvey` runs the command line."""

import sys

from kdsurvey.cli import main

sys.exit(main())
