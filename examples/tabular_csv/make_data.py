"""Write data/train.csv, the worked example's data: 600 readings of four sensors on a machine (temperature,
vibration, current, pressure), each labelled normal, worn or faulty, in the shape a CSV export has (a header
row, one reading per row, the label last). Seeded, so it is the same file every time:

    python examples/tabular_csv/make_data.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HEADER = ("temperature", "vibration", "current", "pressure", "label")
# Each state's typical reading and how far readings stray from it; the states overlap a little.
CENTRES = {
    "normal": (60.0, 0.20, 4.0, 101.0),
    "worn": (66.0, 0.45, 4.5, 99.5),
    "faulty": (73.0, 0.80, 5.2, 97.0),
}
SPREAD = (3.0, 0.12, 0.30, 1.2)
ROWS_PER_STATE = 200
TRAIN_CSV = Path(__file__).resolve().parent / "data" / "train.csv"


def rows(seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    out = [
        [f"{rng.gauss(centre, spread):.3f}" for centre, spread in zip(centres, SPREAD, strict=True)] + [state]
        for state, centres in CENTRES.items()
        for _ in range(ROWS_PER_STATE)
    ]
    rng.shuffle(out)
    return out


def write(path: Path = TRAIN_CSV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows())


if __name__ == "__main__":
    write()
