"""``python -m NegativeVolumeSegmentationLib`` is the same as ``nvseg``."""

import sys

from .cli import main

sys.exit(main())
