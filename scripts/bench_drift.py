"""Writes the drift benchmark's data, and times Evidently's DataDriftPreset on it.

    bench_drift.py write DIR ROWS      the data: 20 numeric and 5 categorical columns, ROWS rows
                                       in the reference and in the current sample, seeded
    bench_drift.py evidently DIR       Evidently's report on the same data; compares the values
                                       with DIR/kiln.json and prints the time

Run through scripts/bench-drift.sh.
"""

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from check_drift import METHODS

warnings.filterwarnings("ignore")


def write(folder, rows):
    rng = np.random.default_rng(2026)
    folder.mkdir(parents=True, exist_ok=True)
    columns = []
    for i in range(20):
        shift = 0.05 * i if i % 3 == 0 else 0.0
        ref = rng.normal(10 + i, 1 + i / 10, size=rows)
        cur = rng.normal(10 + i + shift, 1 + i / 10, size=rows)
        if i % 5 == 4:
            ref[rng.random(rows) < 0.02] = np.nan
        name = f"n{i:02}"
        ref.astype("<f8").tofile(folder / f"{name}.ref")
        cur.astype("<f8").tofile(folder / f"{name}.cur")
        columns.append({"name": name, "kind": "numeric"})
    for i in range(5):
        k = 3 + 2 * i
        cats = np.array([f"c{j}" for j in range(k)])
        p = np.full(k, 1.0 / k)
        q = p.copy()
        if i % 2 == 0:
            q[0] += 0.3 / k
            q[-1] -= 0.3 / k
        name = f"k{i}"
        (folder / f"{name}.ref").write_text("\n".join(rng.choice(cats, size=rows, p=p)) + "\n")
        (folder / f"{name}.cur").write_text("\n".join(rng.choice(cats, size=rows, p=q)) + "\n")
        columns.append({"name": name, "kind": "categorical"})
    (folder / "columns.json").write_text(json.dumps(columns))


def load(folder):
    columns = json.loads((folder / "columns.json").read_text())
    ref, cur = {}, {}
    for c in columns:
        for side, frame in (("ref", ref), ("cur", cur)):
            path = folder / f"{c['name']}.{side}"
            if c["kind"] == "numeric":
                frame[c["name"]] = np.fromfile(path, dtype="<f8")
            else:
                frame[c["name"]] = pd.Series(path.read_text().splitlines(), dtype=object)
    return columns, pd.DataFrame(ref), pd.DataFrame(cur)


def evidently(folder):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns, ref, cur = load(folder)
    definition = DataDefinition(
        numerical_columns=[c["name"] for c in columns if c["kind"] == "numeric"],
        categorical_columns=[c["name"] for c in columns if c["kind"] == "categorical"],
    )
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    metrics = snapshot.dict()["metrics"]
    seconds = time.perf_counter() - start
    values = {}
    count = None
    for m in metrics:
        config = m["config"]
        if config["type"].endswith("ValueDrift"):
            values[config["column"]] = (METHODS.get(config["method"], config["method"]), m["value"])
        elif config["type"].endswith("DriftedColumnsCount"):
            count = m["value"]["count"]
    kiln = json.loads((folder / "kiln.json").read_text())
    worst = 0.0
    differ = []
    for c in kiln["columns"]:
        test, value = values[c["name"]]
        gap = abs(c["value"] - value) / max(abs(value), 1e-300)
        worst = max(worst, gap if value else abs(c["value"]))
        if c["test"] != test or gap > 1e-6:
            differ.append(f"{c['name']}: Kiln {c['test']} {c['value']!r}, Evidently {test} {value!r}")
    for d in differ:
        print(f"DIFFERENT {d}")
    same_count = count == kiln["dataset"]["drifted_columns"]
    print(
        f"Evidently: drift report in {seconds:.3f} s; {int(count)} of {len(values)} columns drift; "
        f"results {'equal' if not differ and same_count else 'DIFFERENT'} "
        f"(worst relative difference {worst:.1e})"
    )
    print(f"EVIDENTLY_SECONDS={seconds}")
    if differ or not same_count:
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        evidently(Path(sys.argv[2]))
