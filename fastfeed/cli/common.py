"""What the commands share: error lines, ``--key value`` options, progress bars (tqdm)
and metric printing."""

from __future__ import annotations

import argparse
import os
import sys

from tqdm import tqdm

from fastfeed.tasks import options  # the one range check (a field's declared range)


class Ranged:
    """An argparse ``type`` that also checks the value's range, so every numeric option
    declares what it allows where it is defined, and a bad value exits 2 with one line
    (argparse's) before anything loads:

        p.add_argument("--size", type=Ranged(int, 32, 4096), default=160)

    ``bad_values()`` gives values just outside, for the tests that try every option."""

    def __init__(self, kind: type, low: float, high: float | None = None, *,
                 above: bool = False, step: int | None = None):
        self.kind, self.spec = kind, (low, high, above, step)  # as tasks.options.option's
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if self.kind is int else 'a number'}"
            ) from None
        if options.outside(value, self.spec):
            raise argparse.ArgumentTypeError(
                f"{text}: use a value {options.allowed(self.spec)}")
        return value

    def bad_values(self) -> list[str]:
        finite = ["nan", "inf", "-inf"] if self.kind is float else []
        return ["x"] + [str(value) for value in options.just_outside(self.spec)] + finite


def _argument(parse):
    """An argparse ``type`` from one of :mod:`fastfeed.background.options`' parsers (the
    table the HTTP API shares): its ValueError becomes argparse's one-line error."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = parse.__name__
    return convert


def scales(text: str) -> tuple[float, ...]:
    """``--scales 0.8,1,1.2``: the sizes (times ``--size``) whose maps are averaged."""
    return _argument(_options().scales)(text)


def colour(text: str) -> tuple[int, int, int]:
    """``--bg-color R,G,B``."""
    return _argument(_options().colour)(text)


def _options():
    from fastfeed.background import options

    return options


def add_map_options(p: argparse.ArgumentParser) -> None:
    """``--size``, ``--scales`` and ``--refinement``: how a background-removal model
    sees a photo and how its map reaches full resolution (remove-bg, eval-bg; the same
    table as serve-bg's query parameters, background.options); check them together
    with :func:`map_options_problem`."""
    options = _options()
    low, high, step = options.SIZE_RANGE
    p.add_argument("--size", type=Ranged(int, low, high, step=step),
                   default=options.DEFAULT_SIZE,
                   help="the model sees the photo at this many px on its longer side "
                        "(default: %(default)s)")
    p.add_argument("--scales", type=scales, default=options.DEFAULT_SCALES,
                   metavar="S,S,...", help="average the model's maps at these multiples "
                   "of --size (default: 0.8,1,1.2; 1: one size, a third of the model's "
                   "work)")
    p.add_argument("--refinement", choices=options.REFINEMENTS,
                   default=options.DEFAULT_REFINEMENT,
                   help="how the model's map reaches full resolution: GrabCut seeded by "
                        "the model, then the guided filter (default); the guided filter "
                        "alone; the default, then an alpha matte along the object's edge "
                        "(matting: needs pymatting, the matting extra); or bilinear only")


def map_options_problem(args: argparse.Namespace) -> str:
    """Why ``--size`` with ``--scales`` asks too much of the model, or why
    ``--refinement`` cannot run here ("" when neither): each is checked alone by
    argparse, their product and the refinement's package here."""
    try:
        _options().refinement(args.refinement)
    except ValueError as error:
        return f"--refinement {error}."
    return _options().map_problem(args.size, args.scales, ("--size", "--scales"))


def fail(message: str, status: int = 2) -> int:
    """Prints ``error: message`` to stderr; returns the exit status."""
    print(f"error: {message}", file=sys.stderr)
    return status


def existing(paths, overwrite: bool) -> str:
    """Why writing ``paths`` would replace a user's file without ``--overwrite`` ("" when
    it would not)."""
    found = [path for path in paths if path and os.path.exists(path)]
    if found and not overwrite:
        return (f"{found[0]} exists; pass --overwrite to replace it, or choose another "
                f"name.")
    return ""


def overrides(rest: list[str]) -> tuple[dict[str, str], str | None]:
    """``--key value`` / ``--key=value`` pairs as a dict, or an error message."""
    found, k = {}, 0
    while k < len(rest):
        item = rest[k]
        if not item.startswith("--") or item == "--":
            return {}, f"expected --key value, got {item!r}"
        if "=" in item:
            key, value = item[2:].split("=", 1)
            k += 1
        elif k + 1 < len(rest):
            key, value = item[2:], rest[k + 1]
            k += 2
        else:
            return {}, f"{item} needs a value"
        found[key] = value
    return found, None


class Bar:
    """``progress(done, total)`` as a tqdm bar on stderr, made on the first call and
    closed when done."""

    def __init__(self, label: str, unit: str = "photo"):
        self.label, self.unit, self.bar = label, unit, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.label, unit=self.unit, file=sys.stderr,
                            dynamic_ncols=True)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


class TrainingProgress:
    """A training's :data:`fastfeed.train.Report`: a tqdm bar per unit with the loss
    and the task's batch metrics; a line that stays for each validation and at the
    end of each unit."""

    SHOWN_APART = ("learning_rate", "steps_per_s", "examples_per_s")

    def __init__(self):
        self.unit, self.bar = None, None

    def __call__(self, unit: str, step: int, steps: int, logs: dict, validation: dict
                 ) -> None:
        if unit != self.unit:
            self.close()
            self.unit = unit
            self.bar = tqdm(total=steps, desc=unit, unit="step", file=sys.stderr,
                            dynamic_ncols=True)
        metrics = " ".join(f"{key} {value:.4f}" for key, value in logs.items()
                           if key not in self.SHOWN_APART)
        self.bar.set_postfix_str(f"{metrics} lr {logs['learning_rate']:.2e} "
                                 f"{logs['examples_per_s']:.0f} ex/s", refresh=False)
        self.bar.update(step - self.bar.n)
        if validation or step == steps:
            shown = " ".join(f"{key} {value:.4f}" for key, value in
                             {**logs, **validation}.items() if key not in self.SHOWN_APART)
            self.bar.write(f"{unit} step {step}/{steps}: {shown}", file=sys.stderr)
        if step == steps:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.unit, self.bar = None, None


def print_metrics(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = ", ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in value)
        print(f"  {key}: {value}")
