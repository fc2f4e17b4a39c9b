"""onnxruntime's side of the replay benchmark: batch-scores the graphs `kiln replay` ran in tract
on the same traffic, as a user without Kiln would, and sets the throughput beside Kiln's.

    bench_replay.py DIR      DIR as core/benches/replay_throughput.rs wrote it: per model
                             NAME-traffic.csv, NAME/1/model.onnx and NAME/2/model.onnx (each
                             with its pipeline.json), and kiln.json with Kiln's figures

Reading the CSV and building the input arrays are not timed. Timed, per version, is scoring
every row in the batches Kiln uses (core/src/replay.rs: 4096 rows, or fewer for a wide input,
262,144 values a batch at most):
- penguins, the servable graph (one [n, 1] input per raw column: float32 with NaN for a missing
  value, or str with "" for one): session.run on each batch;
- text, the servable graph too (one str [n, 1] input, the raw text, tokenised in the graph by
  StringNormalizer, com.microsoft.Tokenizer and TfIdfVectorizer): session.run on each batch. A
  text model exported in the features form (one float32 [n, width] input) is fed by
  scikit-learn's TfidfVectorizer with Kiln's vocabulary and idf (pipeline.json), timed too.
Each version runs twice: with onnxruntime's default threading (every core) and with one intra-op
thread, which is what Kiln gives each version. One untimed call on the first batch comes before
each timing.

The script checks what it can without Kiln: every row's probabilities sum to 1, the graph's
labels are the classes of the largest probabilities, the one-thread and all-core runs agree, and,
for a features-form text graph, on the first 200 texts scikit-learn's features equal the TF-IDF
of core/src/features/tfidf.rs computed step by step here (and give the same probabilities). It
exits 1 if a check fails.

Run through scripts/bench-replay.sh, which provides onnxruntime, NumPy and scikit-learn in
.bench/venv-replay.
"""

import csv
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer

BATCH = 4096  # Kiln's SCORING_BATCH (core/src/replay.rs)


def scoring_batch(width):
    """Rows per call for an input of `width` values a row, as Kiln's replay::scoring_batch."""
    return max(64, min(BATCH, 262_144 // max(width, 1)))
CHECKED_TEXTS = 200
SUM_TOL = 1e-4  # probabilities of one row add up to 1 within this
THREADS_TOL = 1e-5  # one-thread and all-core probabilities agree within this
FEATURE_TOL = 1e-6  # scikit-learn's features against tfidf.rs's steps

# The cells Kiln reads as "no value" (core/src/data/table.rs, is_missing).
MISSING = {"", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?"}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL  {what}")


def read_traffic(path):
    """The traffic CSV as {column: [cell or None]}, missing cells None as Kiln reads them."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        names = next(reader)
        columns = [[] for _ in names]
        for record in reader:
            for column, cell in zip(columns, record):
                column.append(None if cell.strip() in MISSING else cell)
    return dict(zip(names, columns))


def number(cell):
    """A cell as the float32 Kiln feeds the graph: NaN for missing, unparsable or infinite."""
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def raw_inputs(session, traffic):
    """The servable graph's inputs for every row, one [n, 1] array per input, by name."""
    inputs = {}
    for i in session.get_inputs():
        cells = traffic[i.name]
        if i.type == "tensor(string)":
            inputs[i.name] = np.array([c or "" for c in cells], dtype=object).reshape(-1, 1)
        elif i.type == "tensor(float)":
            inputs[i.name] = np.array([number(c) for c in cells], dtype=np.float32).reshape(-1, 1)
        else:
            raise SystemExit(f"input {i.name}: {i.type} is neither string nor float")
    return inputs


def tfidf_step(pipeline):
    """The pipeline's one step, which must be TF-IDF: (column, settings, vocabulary, idf)."""
    steps = pipeline["steps"]
    if len(steps) != 1 or steps[0].get("transform") != "tfidf":
        raise SystemExit("the text pipeline is expected to be a single tfidf step")
    model = steps[0]["model"]
    return steps[0]["column"], model["settings"], model["vocabulary"], model["idf"]


def vectorizer(settings, vocabulary, idf):
    """scikit-learn's TfidfVectorizer with Kiln's fitted vocabulary and idf: no fitting, so the
    document-frequency settings play no part; the rest map one to one (scripts/check_tfidf.py)."""
    vec = TfidfVectorizer(
        lowercase=settings["lowercase"],
        token_pattern=settings["token_pattern"],
        ngram_range=tuple(settings["ngram_range"]),
        sublinear_tf=settings["sublinear_tf"],
        smooth_idf=settings["smooth_idf"],
        norm=settings["norm"],
        vocabulary=vocabulary,
    )
    vec.idf_ = np.array(idf, dtype=np.float64)
    return vec


def features(vec):
    """The graph's input for a batch of texts: the TF-IDF matrix, dense, in float32."""
    # Cast while sparse, then densify: the same array, several times faster than the other order.
    return lambda texts: {"features": vec.transform(texts).astype(np.float32).toarray()}


def kiln_tfidf(doc, settings, index, idf):
    """One document's TF-IDF row, following core/src/features/tfidf.rs step by step."""
    text = doc.lower() if settings["lowercase"] else doc
    tokens = re.findall(settings["token_pattern"], text)  # with one group, the group's text
    low, high = settings["ngram_range"]
    counts = {}
    for n in range(max(low, 1), min(high, len(tokens)) + 1):
        for start in range(len(tokens) - n + 1):
            column = index.get(" ".join(tokens[start : start + n]))
            if column is not None:
                counts[column] = counts.get(column, 0.0) + 1.0
    row = np.zeros(len(index), dtype=np.float64)
    for column, count in counts.items():
        tf = math.log(count) + 1.0 if settings["sublinear_tf"] else count
        row[column] = tf * idf[column]
    if settings["norm"] == "l2":
        total = math.sqrt(float(np.sum(row * row)))
    elif settings["norm"] == "l1":
        total = float(np.sum(np.abs(row)))
    else:
        total = 0.0
    if total != 0.0:
        row /= total
    return row.astype(np.float32)


def session(path, threads):
    """An onnxruntime CPU session: default threading (every core), or `threads` intra-op threads."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def score(sess, batches, prepare):
    """Seconds to score every batch (after one untimed call), and the outputs, concatenated."""
    names = [o.name for o in sess.get_outputs()]
    sess.run(None, prepare(batches[0]))
    outputs = []
    start = time.perf_counter()
    for batch in batches:
        outputs.append(sess.run(None, prepare(batch)))
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
    probe = session(graphs[0], 1)
    inputs = [i.name for i in probe.get_inputs()]
    width = probe.get_inputs()[0].shape[1] if inputs == ["features"] else 1
    batch = scoring_batch(width)
    starts = range(0, rows, batch)

    if inputs == ["features"]:
        # One vectorizer per version: each version's pipeline carries its own vocabulary and idf.
        prepares = []
        for pipeline in pipelines:
            _, settings, vocabulary, idf = tfidf_step(pipeline)
            prepares.append(features(vectorizer(settings, vocabulary, idf)))
        docs = [c or "" for c in traffic[tfidf_step(pipelines[0])[0]]]
        batches = [docs[s : s + batch] for s in starts]
        check_features(name, pipelines[0], docs[:CHECKED_TEXTS], prepares[0], probe)
    else:
        arrays = raw_inputs(probe, traffic)
        batches = [{k: v[s : s + batch] for k, v in arrays.items()} for s in starts]
        prepares = [lambda b: b, lambda b: b]

    figures, labels = [], []
    for version, (graph, pipeline, prepare) in enumerate(zip(graphs, pipelines, prepares), 1):
        all_cores, out = score(session(graph, 0), batches, prepare)
        one_thread, out_one = score(session(graph, 1), batches, prepare)
        labels.append(check_outputs(name, version, out, pipeline["classes"], rows))
        check_outputs(name, version, out_one, pipeline["classes"], rows)
        gap = float(np.max(np.abs(out["probabilities"] - out_one["probabilities"])))
        check(gap <= THREADS_TOL, f"{name} v{version}: 1 thread and all cores differ by {gap:.1e}")
        figures.append((version, all_cores, one_thread, kiln[f"v{version}_rows_per_second"]))
    agree = int(np.sum(labels[0] == labels[1]))
    return rows, figures, agree


def check_features(name, pipeline, docs, prepare, sess):
    """scikit-learn's features for `docs` against tfidf.rs's steps, and the probabilities."""
    _, settings, vocabulary, idf = tfidf_step(pipeline)
    index = {term: i for i, term in enumerate(vocabulary)}
    ours = np.stack([kiln_tfidf(d, settings, index, idf) for d in docs])
    theirs = prepare(docs)["features"]
    gap = float(np.max(np.abs(ours - theirs)))
    check(gap <= FEATURE_TOL, f"{name}: scikit-learn's TF-IDF is off tfidf.rs's by {gap:.1e}")
    p_ours = sess.run(["probabilities"], {"features": ours})[0]
    p_theirs = sess.run(["probabilities"], {"features": theirs})[0]
    p_gap = float(np.max(np.abs(p_ours - p_theirs)))
    check(p_gap <= THREADS_TOL, f"{name}: the two features' probabilities differ by {p_gap:.1e}")
    print(
        f"{name}: first {len(docs)} texts, scikit-learn's TF-IDF against tfidf.rs's steps: "
        f"max |feature diff| {gap:.1e}, max |probability diff| {p_gap:.1e}"
    )


def main():
    folder = Path(sys.argv[1])
    kiln = json.loads((folder / "kiln.json").read_text())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"onnxruntime {ort.__version__}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}; "
        f"{cores} cores; batches as Kiln's (at most {BATCH} rows)"
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
