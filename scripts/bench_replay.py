"""onnxruntime's side of the replay benchmark: batch-scores the graphs `kiln replay` ran in tract
on the same traffic, as a user without Kiln would, and sets the throughput beside Kiln's.

    bench_replay.py DIR      DIR as core/benches/replay_throughput.rs wrote it: per model
                             NAME-traffic.csv, NAME/1/model.onnx and NAME/2/model.onnx (each
                             with its pipeline.json), and kiln.json with Kiln's figures

Reading the CSV and building the input arrays are not timed. Timed, per version, is
session.run on every batch, in the rows per call Kiln used (kiln.json's "batch":
core/src/replay.rs's scoring_batch, 4096 rows or fewer for a wide feature block). Both models
are servable graphs, one [n, 1] input per raw column: float32 with NaN for a missing value, or
str with "" for one (the text graph tokenises the raw text itself, with StringNormalizer,
com.microsoft.Tokenizer and TfIdfVectorizer).
Each version runs twice: with onnxruntime's default threading (every core) and with one intra-op
thread, which is what Kiln gives each version. One untimed call on the first batch comes before
each timing.

The script checks: every row's probabilities sum to 1, the graph's labels are the classes of the
largest probabilities, the one-thread and all-core runs agree, and Kiln's replay, which ran the
same graphs in tract, counts every pair of v1 and v2 labels on as many rows as onnxruntime gives.
It exits 1 if a check fails.

Run through scripts/bench-replay.sh, which provides onnxruntime and NumPy in .bench/venv-replay.
"""

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

# How Kiln reads a CSV and a cell: the spellings of "no value", and numbers
# (scripts/check_triton.py).
from check_triton import MISSING, parse_number, read_csv

SUM_TOL = 1e-4  # probabilities of one row add up to 1 within this
THREADS_TOL = 1e-5  # one-thread and all-core probabilities agree within this

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL  {what}")


def read_traffic(path):
    """The traffic CSV as {column: [cell or None]}, missing cells None as Kiln reads them."""
    header, body = read_csv(path)
    return {
        name: [None if row[k].strip() in MISSING else row[k] for row in body]
        for k, name in enumerate(header)
    }


def number(cell):
    """A cell as the float32 Kiln feeds the graph: NaN for missing or unparsable."""
    value = parse_number(cell) if cell is not None else None
    return math.nan if value is None else value


def raw_inputs(session, graph, traffic, path):
    """The servable graph's inputs for every row, one [n, 1] array per input, by name."""
    inputs = {}
    for i in session.get_inputs():
        if i.name not in traffic:
            raise SystemExit(
                f"{graph} reads {i.name!r}, which {path} lacks: a graph in the features form "
                "reads `features`; export the servable model (raw columns in)"
            )
        cells = traffic[i.name]
        if i.type == "tensor(string)":
            inputs[i.name] = np.array([c or "" for c in cells], dtype=object).reshape(-1, 1)
        elif i.type == "tensor(float)":
            inputs[i.name] = np.array([number(c) for c in cells], dtype=np.float32).reshape(-1, 1)
        else:
            raise SystemExit(f"input {i.name}: {i.type} is neither string nor float")
    return inputs


def session(path, threads):
    """An onnxruntime CPU session: default threading (every core), or `threads` intra-op threads."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def score(sess, batches):
    """Seconds to score every batch (after one untimed call), and the outputs, concatenated."""
    names = [o.name for o in sess.get_outputs()]
    sess.run(None, batches[0])
    outputs = []
    start = time.perf_counter()
    for batch in batches:
        outputs.append(sess.run(None, batch))
    seconds = time.perf_counter() - start
    return seconds, {n: np.concatenate([o[i] for o in outputs]) for i, n in enumerate(names)}


def check_outputs(name, version, out, classes, rows):
    probabilities = out["probabilities"]
    shape = probabilities.shape
    check(shape == (rows, len(classes)), f"{name} v{version}: probabilities of shape {shape}")
    worst = float(np.max(np.abs(probabilities.sum(axis=1) - 1.0)))
    check(worst <= SUM_TOL, f"{name} v{version}: probabilities sum to 1 within {worst:.1e} only")
    predicted = np.array(classes, dtype=object)[probabilities.argmax(axis=1)]
    if "label" in out:
        differ = int(np.sum(out["label"].reshape(-1) != predicted))
        check(differ == 0, f"{name} v{version}: {differ} labels are not the most probable class")
    return predicted


def bench_model(folder, name, kiln):
    traffic = read_traffic(folder / f"{name}-traffic.csv")
    rows = len(next(iter(traffic.values())))
    check(rows == kiln["rows"], f"{name}: {rows} traffic rows, but kiln.json is for {kiln['rows']}")
    graphs = [folder / name / str(v) / "model.onnx" for v in (1, 2)]
    pipelines = [json.loads((g.parent / "pipeline.json").read_text()) for g in graphs]
    batch = kiln["batch"]  # the rows per call Kiln used
    arrays = raw_inputs(session(graphs[0], 1), graphs[0], traffic, folder / f"{name}-traffic.csv")
    batches = [{k: v[s : s + batch] for k, v in arrays.items()} for s in range(0, rows, batch)]

    figures, labels = [], []
    for version, (graph, pipeline) in enumerate(zip(graphs, pipelines), 1):
        all_cores, out = score(session(graph, 0), batches)
        one_thread, out_one = score(session(graph, 1), batches)
        labels.append(check_outputs(name, version, out, pipeline["classes"], rows))
        check_outputs(name, version, out_one, pipeline["classes"], rows)
        gap = float(np.max(np.abs(out["probabilities"] - out_one["probabilities"])))
        check(gap <= THREADS_TOL, f"{name} v{version}: 1 thread and all cores differ by {gap:.1e}")
        figures.append((version, all_cores, one_thread, kiln[f"v{version}_rows_per_second"]))
    # Kiln's replay ran the same graphs in tract: each pair of labels counts the same rows.
    classes = pipelines[0]["classes"]
    index = {c: i for i, c in enumerate(classes)}
    table = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(table, ([index[c] for c in labels[0]], [index[c] for c in labels[1]]), 1)
    if kiln["contingency"] is None:
        check(False, f"{name}: kiln.json has no label counts (the replay compared no rows)")
    else:
        same = kiln["classes"] == classes and table.tolist() == kiln["contingency"]
        check(
            same,
            f"{name}: Kiln's v1-by-v2 label counts {kiln['contingency']} (classes {kiln['classes']}) "
            f"are not onnxruntime's {table.tolist()} (classes {classes})",
        )
        if same:
            print(
                f"{name}: Kiln's replay counts every pair of v1 and v2 labels on as many of the "
                f"{rows} rows as onnxruntime"
            )
    print(f"{name}: {batch} rows per call on both sides, as Kiln's replay scores")
    return rows, figures, int(np.trace(table))


def main():
    folder = Path(sys.argv[1])
    kiln = json.loads((folder / "kiln.json").read_text())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"onnxruntime {ort.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}; {cores} cores"
    )
    results = {name: bench_model(folder, name, kiln[name]) for name in ("penguins", "text")}

    print()
    print(
        f"{'model':<9} {'version':>7} {'rows':>9} {'ort rows/s all cores':>21} "
        f"{'ort rows/s 1 thread':>20} {'Kiln rows/s 1 thread':>21} {'Kiln/ort 1 thread':>18}"
    )
    for name, (rows, figures, _) in results.items():
        for version, all_cores, one_thread, kiln_rate in figures:
            ort_one = rows / one_thread
            print(
                f"{name:<9} {'v' + str(version):>7} {rows:>9} {rows / all_cores:>21,.0f} "
                f"{ort_one:>20,.0f} {kiln_rate:>21,.0f} {kiln_rate / ort_one:>17.2f}x"
            )
    print()
    for name, (rows, figures, agree) in results.items():
        ort_seconds = sum(f[1] for f in figures)
        kiln_seconds = kiln[name]["scoring_seconds"]
        print(
            f"{name}: both versions, {rows} rows each: Kiln {kiln_seconds:.3f} s (in parallel, one "
            f"thread each), onnxruntime {ort_seconds:.3f} s (one after the other, all cores each): "
            f"Kiln {ort_seconds / kiln_seconds:.2f}x onnxruntime's speed; whole Kiln replay "
            f"{kiln[name]['replay_seconds']:.1f} s"
        )
        share = f"{agree / rows:.2%}"
        print(f"{name}: onnxruntime's v1 and v2 labels agree on {agree} of {rows} rows ({share})")
    print(f"checks: {'all passed' if not failures else f'{len(failures)} FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
