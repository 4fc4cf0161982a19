"""Performance measurements, run as `fastfeed bench NAME` or `python -m benchmarks.NAME`.

Figures are ratios measured side by side in one process, alternating, because the
machines are shared and noisy. Nothing here is a test.
"""

import os

# A program, like the fastfeed command: TensorFlow's start-up logging quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
