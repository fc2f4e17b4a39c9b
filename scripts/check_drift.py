"""Cross-checks Kiln's monitoring statistics (kiln-core monitor) against the libraries users
trust:

- Evidently 0.7's DataDriftPreset, with its default choice of test per column and with chosen
  tests and thresholds: every column's test, value and decision, and the dataset's verdict.
  p-values agree within 1e-6 relative, distances within 1e-9. The cases cover the edges of the
  default choice (1,000 and 1,001 reference rows; 2, 5 and 6 distinct values; 20 and 21
  distinct reference values for the binning), missing values, a category present in only one
  sample, integer columns, and PSI;
- scipy's ks_2samp on its own, through the exact (equal and unequal sizes) and asymptotic
  branches;
- river's DDM and ADWIN (default settings) on seeded error streams: the same warning and drift
  indices;
- statsmodels' mcnemar(exact=True) and proportions_ztest; the mid-p value against the worked
  example of Fagerland, Lydersen & Laake (2013): b = 1, c = 7 give 0.0703 and 0.0391.

Run through scripts/check-drift.sh, which provides the pinned libraries in .bench/venv-drift.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from river.drift import ADWIN
from river.drift.binary import DDM
from scipy.stats import ks_2samp
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportions_ztest

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug" / "examples" / "drift_stats"
P_TOL = 1e-6
D_TOL = 1e-9

warnings.filterwarnings("ignore")

METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}
P_VALUES = {"ks", "chisquare", "z"}


def drifts(test, value, threshold):
    if test == "ks":
        return value <= threshold
    if test in ("chisquare", "z"):
        return value < threshold
    return value >= threshold


# ---------------------------------------------------------------- cases


def numeric(rng, n, *, shift=0.0, scale=1.0, distinct=None, integers=False, missing=0.0):
    """n values: normal, or drawn from `distinct` values; a share `missing` of them NaN."""
    if distinct is not None:
        values = rng.choice(np.arange(distinct) * 1.5 + shift, size=n).astype(float)
    else:
        values = rng.normal(shift, scale, size=n)
    if integers:
        values = np.round(values * 3).astype(np.int64)
    if missing:
        values = values.astype(float)
        values[rng.random(n) < missing] = np.nan
    return values


def categorical(rng, n, categories, p=None, missing=0.0):
    values = rng.choice(categories, size=n, p=p).astype(object)
    if missing:
        values[rng.random(n) < missing] = None
    return values


def datasets():
    rng = np.random.default_rng(20261130)
    cases = []

    def add(name, columns, tests=None, thresholds=None, drift_share=None):
        cases.append(
            {
                "name": name,
                "columns": columns,
                "tests": tests or {},
                "thresholds": thresholds or {},
                "drift_share": drift_share,
            }
        )

    for n_ref in (1000, 1001):
        add(
            f"default choice, {n_ref} reference rows",
            [
                ("normal", "numeric", numeric(rng, n_ref), numeric(rng, 700, shift=0.15)),
                ("six values", "numeric", numeric(rng, n_ref, distinct=6), numeric(rng, 900, distinct=6, shift=0.0)),
                ("five values", "numeric", numeric(rng, n_ref, distinct=5), numeric(rng, 900, distinct=5)),
                ("two values", "numeric", numeric(rng, n_ref, distinct=2), numeric(rng, 300, distinct=2)),
                ("three categories", "categorical", categorical(rng, n_ref, ["a", "b", "c"]), categorical(rng, 500, ["a", "b", "c"], p=[0.5, 0.3, 0.2])),
                ("two categories", "categorical", categorical(rng, n_ref, ["yes", "no"]), categorical(rng, 500, ["yes", "no"], p=[0.6, 0.4])),
            ],
        )
    # The exact KS with equal sizes, unequal sizes, and the asymptotic branch (over 10,000).
    add(
        "KS branches",
        [
            ("equal sizes", "numeric", numeric(rng, 400), numeric(rng, 400, shift=0.2)),
            ("unequal sizes", "numeric", numeric(rng, 999), numeric(rng, 10000, shift=0.05)),
            ("asymptotic", "numeric", numeric(rng, 800), numeric(rng, 20000, shift=0.08)),
            ("no drift", "numeric", numeric(rng, 300), numeric(rng, 350)),
        ],
    )
    # 20 and 21 distinct reference values: Sturges bins over both samples above 20.
    for distinct in (20, 21):
        add(
            f"{distinct} distinct values, JS and PSI",
            [
                ("js", "numeric", numeric(rng, 2000, distinct=distinct), numeric(rng, 1500, distinct=distinct, shift=0.7)),
                ("psi", "numeric", numeric(rng, 2000, distinct=distinct), numeric(rng, 1500, distinct=distinct, shift=0.7)),
                ("psi wide", "numeric", numeric(rng, 3000, scale=4.0), numeric(rng, 800, scale=5.0)),
            ],
            tests={"js": "jensenshannon", "psi": "psi", "psi wide": "psi"},
        )
    add(
        "missing values",
        [
            ("numeric with NaN", "numeric", numeric(rng, 1200, missing=0.1), numeric(rng, 900, shift=0.3, missing=0.3)),
            ("small numeric with NaN", "numeric", numeric(rng, 600, missing=0.2), numeric(rng, 200, missing=0.05)),
            ("categories with gaps", "categorical", categorical(rng, 800, ["r", "g", "b", "k"], missing=0.1), categorical(rng, 400, ["r", "g", "b", "k"], missing=0.25)),
        ],
    )
    add(
        "a category in one sample only",
        [
            ("new in current", "categorical", categorical(rng, 700, ["a", "b", "c"]), categorical(rng, 300, ["a", "b", "c", "d"])),
            ("gone from current", "categorical", categorical(rng, 700, ["a", "b", "c", "d"]), categorical(rng, 300, ["a", "b", "c"])),
            ("gone, large", "categorical", categorical(rng, 5000, ["a", "b", "c", "d"]), categorical(rng, 3000, ["a", "b", "c"])),
            ("gone, PSI", "categorical", categorical(rng, 5000, ["a", "b", "c", "d"]), categorical(rng, 3000, ["a", "b", "c"])),
            ("one value each", "categorical", categorical(rng, 200, ["same"]), categorical(rng, 100, ["same"])),
        ],
        tests={"gone, PSI": "psi"},
    )
    add(
        "integers",
        [
            ("integers, Wasserstein", "numeric", numeric(rng, 5000, integers=True), numeric(rng, 5000, integers=True, shift=0.1)),
            ("integers, PSI narrow", "numeric", numeric(rng, 200000, distinct=30, integers=True), numeric(rng, 100000, distinct=30, integers=True)),
            ("integers, JS", "numeric", numeric(rng, 1500, integers=True), numeric(rng, 1500, integers=True, shift=1.0)),
        ],
        tests={"integers, PSI narrow": "psi", "integers, JS": "jensenshannon"},
    )
    add(
        "chosen thresholds and drift share",
        [
            ("a", "numeric", numeric(rng, 500), numeric(rng, 500, shift=0.12)),
            ("b", "numeric", numeric(rng, 2500), numeric(rng, 2500, shift=0.12)),
            ("c", "categorical", categorical(rng, 500, ["x", "y", "z"]), categorical(rng, 500, ["x", "y", "z"], p=[0.4, 0.35, 0.25])),
        ],
        tests={"c": "psi"},
        thresholds={"a": 0.2, "b": 0.05, "c": 0.01},
        drift_share=0.6,
    )
    return cases


def cell(value, kind):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "numeric":
        return str(int(value)) if isinstance(value, (int, np.integer)) else repr(float(value))
    return str(value)


def evidently_drift(case):
    columns = case["columns"]
    ref = pd.DataFrame({c[0]: pd.Series(c[2]) for c in columns})
    cur = pd.DataFrame({c[0]: pd.Series(c[3]) for c in columns})
    definition = DataDefinition(
        numerical_columns=[c[0] for c in columns if c[1] == "numeric"],
        categorical_columns=[c[0] for c in columns if c[1] == "categorical"],
    )
    preset = DataDriftPreset(
        drift_share=case["drift_share"] if case["drift_share"] is not None else 0.5,
        per_column_method=case["tests"] or None,
        per_column_threshold=case["thresholds"] or None,
    )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = {"columns": {}}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            # The display name of a default test; a chosen one keeps the name it was given.
            method = METHODS.get(config["method"], config["method"])
            result["columns"][config["column"]] = (method, metric["value"], config["threshold"])
        elif config["type"].endswith("DriftedColumnsCount"):
            result["count"] = metric["value"]["count"]
            result["share"] = metric["value"]["share"]
            result["drift_share"] = config["drift_share"]
    return result


def close(a, b, tol):
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(abs(a), abs(b)) or abs(a - b) <= 1e-300


def check_datasets(kiln, failures):
    compared = 0
    worst = {"p": 0.0, "d": 0.0}
    for case, out in zip(datasets(), kiln["datasets"]):
        ev = evidently_drift(case)
        ours = {c["name"]: c for c in out["columns"]}
        for name, (test, value, threshold) in ev["columns"].items():
            mine = ours[name]
            compared += 1
            where = f"{case['name']} / {name}"
            if mine["error"]:
                failures.append(f"{where}: Kiln could not test it ({mine['error']}); Evidently gave {test} {value}")
                continue
            if mine["test"] != test:
                failures.append(f"{where}: test {mine['test']} != Evidently's {test}")
                continue
            tol = P_TOL if test in P_VALUES else D_TOL
            if not close(mine["value"], value, tol):
                failures.append(f"{where}: {test} {mine['value']!r} != Evidently's {value!r}")
            else:
                if value and mine["value"] is not None:
                    gap = abs(mine["value"] - value) / max(abs(value), 1e-300)
                    key = "p" if test in P_VALUES else "d"
                    worst[key] = max(worst[key], gap)
            if mine["drifted"] != drifts(test, value, threshold):
                failures.append(f"{where}: drift {mine['drifted']} != Evidently's {drifts(test, value, threshold)}")
        dataset = out["dataset"]
        compared += 1
        if dataset["drifted_columns"] != ev["count"] or not close(dataset["share"], ev["share"], 1e-12):
            failures.append(f"{case['name']}: {dataset['drifted_columns']} drifting columns (share {dataset['share']}) != Evidently's {ev['count']} ({ev['share']})")
        if dataset["drifted"] != (ev["share"] >= ev["drift_share"]):
            failures.append(f"{case['name']}: dataset drift {dataset['drifted']} != Evidently's")
    return compared, worst


def ks_cases():
    rng = np.random.default_rng(7)
    sizes = [(1, 1), (1, 5), (5, 5), (7, 13), (100, 100), (1000, 1001), (1000, 1000), (999, 10000),
             (10000, 10000), (1000, 10001), (50, 20000), (20, 10001), (1000, 200000)]
    cases = []
    for n1, n2 in sizes:
        for shift in (0.0, 0.3):
            a = rng.normal(size=n1)
            b = rng.normal(shift, size=n2)
            cases.append((a, b))
    # Ties: rounded values.
    cases.append((np.round(rng.normal(size=600), 1), np.round(rng.normal(0.1, size=800), 1)))
    return cases


def check_ks(kiln, failures):
    compared = 0
    worst = 0.0
    for (a, b), mine in zip(ks_cases(), kiln["ks"]):
        ref = ks_2samp(a, b)
        compared += 1
        if mine["statistic"] != float(ref.statistic) and not close(mine["statistic"], float(ref.statistic), 1e-12):
            failures.append(f"ks n={len(a)},{len(b)}: D {mine['statistic']} != scipy's {ref.statistic}")
        if not close(mine["p"], float(ref.pvalue), P_TOL):
            failures.append(f"ks n={len(a)},{len(b)}: p {mine['p']!r} != scipy's {float(ref.pvalue)!r}")
        elif ref.pvalue > 0:
            worst = max(worst, abs(mine["p"] - ref.pvalue) / ref.pvalue)
    return compared, worst


def streams():
    rng = np.random.default_rng(11)
    out = []
    for before, after, at, n in [(0.1, 0.4, 1000, 3000), (0.05, 0.5, 500, 2000), (0.3, 0.1, 2000, 4000),
                                 (0.2, 0.2, 0, 5000), (0.02, 0.3, 4000, 8000), (0.1, 0.6, 40, 200)]:
        p = np.where(np.arange(n) < at, before, after)
        out.append((rng.random(n) < p).astype(float).tolist())
    out.append([0.0] * 500)
    out.append([1.0] * 100)
    out.append([0.0] * 20)
    return out


def river_flags(stream):
    ddm, adwin = DDM(), ADWIN()
    flags = {"ddm": {"warnings": [], "drifts": []}, "adwin": {"warnings": [], "drifts": []}}
    for i, x in enumerate(stream):
        ddm.update(x)
        adwin.update(x)
        if ddm.warning_detected:
            flags["ddm"]["warnings"].append(i)
        if ddm.drift_detected:
            flags["ddm"]["drifts"].append(i)
        if adwin.drift_detected:
            flags["adwin"]["drifts"].append(i)
    return flags


def check_streams(kiln, failures):
    compared = 0
    for i, (stream, mine) in enumerate(zip(streams(), kiln["streams"])):
        ref = river_flags(stream)
        for detector in ("ddm", "adwin"):
            for kind in ("warnings", "drifts"):
                compared += 1
                if mine[detector][kind] != ref[detector][kind]:
                    failures.append(f"stream {i} {detector} {kind}: {mine[detector][kind][:10]} != river's {ref[detector][kind][:10]}")
    return compared


MCNEMAR = [(1, 7), (0, 0), (0, 5), (5, 5), (12, 30), (40, 41), (100, 60), (5000, 5400)]
ZTEST = [(30, 100, 45, 100), (5, 50, 5, 50), (0, 20, 3, 20), (480, 1000, 530, 1000), (7000, 10000, 6900, 10000)]


def check_tests(kiln, failures):
    compared = 0
    for (b, c), mine in zip(MCNEMAR, kiln["mcnemar"]):
        ref = mcnemar([[10, b], [c, 10]], exact=True)
        compared += 1
        if not close(mine["p_exact"], float(ref.pvalue), P_TOL) or mine["statistic"] != float(ref.statistic):
            failures.append(f"mcnemar b={b} c={c}: {mine} != statsmodels' {ref.statistic}, {ref.pvalue}")
    m = kiln["mcnemar"][0]
    compared += 1
    if round(m["p_exact"], 4) != 0.0703 or round(m["p_mid"], 4) != 0.0391:
        failures.append(f"mcnemar b=1 c=7: exact {m['p_exact']:.4f}, mid-p {m['p_mid']:.4f}; the worked example gives 0.0703 and 0.0391")
    for (x1, n1, x2, n2), mine in zip(ZTEST, kiln["ztest"]):
        z, p = proportions_ztest([x1, x2], [n1, n2])
        compared += 1
        if not close(mine["z"], float(z), 1e-9) or not close(mine["p"], float(p), P_TOL):
            failures.append(f"ztest {x1}/{n1} vs {x2}/{n2}: {mine} != statsmodels' {z}, {p}")
    return compared


def main():
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: build it with cargo build --workspace --exclude kiln-remote --example drift_stats")
    request = {
        "datasets": [
            {
                "columns": [
                    {
                        "name": name,
                        "kind": kind,
                        "reference": [cell(v, kind) for v in ref],
                        "current": [cell(v, kind) for v in cur],
                    }
                    for name, kind, ref, cur in case["columns"]
                ],
                "tests": case["tests"],
                "thresholds": case["thresholds"],
                "drift_share": case["drift_share"],
            }
            for case in datasets()
        ],
        "ks": [(a.tolist(), b.tolist()) for a, b in ks_cases()],
        "streams": streams(),
        "mcnemar": MCNEMAR,
        "ztest": ZTEST,
    }
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(request))
        subprocess.run([str(BINARY), str(src), str(dst)], check=True)
        kiln = json.loads(dst.read_text())
    failures = []
    n_drift, worst = check_datasets(kiln, failures)
    n_ks, worst_ks = check_ks(kiln, failures)
    n_streams = check_streams(kiln, failures)
    n_tests = check_tests(kiln, failures)
    for f in failures:
        print(f"FAIL {f}")
    print(
        f"drift: {n_drift} Evidently values, {n_ks} scipy KS cases, {n_streams} river flag lists, "
        f"{n_tests} statsmodels/worked-example values compared; {len(failures)} differ"
    )
    print(
        f"worst relative differences: Evidently p-values {worst['p']:.2e}, distances {worst['d']:.2e}; "
        f"scipy KS p-values {worst_ks:.2e}"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
