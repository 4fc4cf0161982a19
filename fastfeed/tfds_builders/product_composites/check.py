"""Checks a built `product_composites` dataset (`fastfeed build product_composites`
runs :func:`report`): every example read back, masks in {0, 1}, the object's share of
each split."""

from __future__ import annotations

import numpy as np


def report(builder, manual_dir: str | None) -> tuple[list[str], bool]:
    """A line per split (examples, mean object share, verdict); and whether every split
    has its examples and only binary masks."""
    lines, failures = [f"{'split':<11} {'examples':>8} {'object share':>13}  check"], 0
    for split, info in builder.info.splits.items():
        count, share, bad = 0, 0.0, 0
        for example in builder.as_dataset(split=split).as_numpy_iterator():
            mask = example["mask"]
            bad += int(not np.isin(mask, (0, 1)).all())
            share += float(mask.mean())
            count += 1
        ok = bad == 0 and count == info.num_examples
        failures += not ok
        lines.append(f"{split:<11} {count:>8} {share / max(count, 1):>12.1%}  "
                     f"{'ok' if ok else f'{bad} bad masks, {info.num_examples} expected'}")
    return lines, failures == 0
