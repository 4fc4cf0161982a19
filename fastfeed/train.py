"""The training script (`fastfeed train`): arrives with the training issue.

It will read top to bottom: a frozen dataclass of defaults, typed `--key value`
overrides, a `--smoke` preset for CPUs, and the Keras models of `fastfeed.models` fed by
the streams of `fastfeed.compose`.
"""
