"""Cross-checks Kiln's TF-IDF vectorizer (kiln-core features::tfidf) against scikit-learn's
TfidfVectorizer on the real text corpus in assets/fortunes.

Every 5th document (sorted by path) is held out for transform, the rest is fitted. For each
settings case both sides fit and transform the same documents, and the script asserts the same
vocabulary in the same order, idf within 1e-9 and every matrix value within 1e-6.

max_features ties: scikit-learn sorts the features by name and then ranks them by total count
with NumPy's default argsort, which is not stable, so when the cut-off falls inside a group of
equally frequent terms, which of them it keeps depends on the NumPy build and the CPU. Kiln
keeps the alphabetically first, which is what a stable argsort gives. For those cases the exact
reference is scikit-learn with that stable ranking (its own CountVectorizer counts, its own
TfidfVectorizer on the resulting vocabulary), and the script also checks that the plain
scikit-learn result differs from it only in terms tied at the cut-off count.

Run through scripts/check-tfidf.sh, which provides scikit-learn in .bench/venv.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

ROOT = Path(__file__).resolve().parent.parent
# Where cargo put the example: its target folder, wherever CARGO_TARGET_DIR moved it.
BINARY = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug" / "examples" / "tfidf_matrix"
IDF_TOL = 1e-9
VALUE_TOL = 1e-6

CASES = [
    ("defaults", {}),
    (
        "bigrams-sublinear",
        dict(ngram_range=(1, 2), min_df=2, max_df=0.9, max_features=500, sublinear_tf=True),
    ),
    (
        "cased-raw-counts",
        dict(
            lowercase=False,
            token_pattern=r"(?u)\b\w+\b",
            min_df=0.01,
            max_df=50,
            smooth_idf=False,
            norm=None,
        ),
    ),
    ("max-features-no-tie", dict(max_features=50)),
    ("max-features-ties", dict(max_features=1000, norm="l1")),
    ("trigrams-fractions", dict(ngram_range=(2, 3), min_df=0.002, max_df=0.5, max_features=300)),
    ("capture-group", dict(token_pattern=r"(?u)\b(\w+)[.!?]", sublinear_tf=True, norm="l1")),
]

# Settings scikit-learn rejects while fitting; Kiln must reject them too.
ERROR_CASES = [
    ("error-max-below-min", dict(min_df=3, max_df=2)),
    ("error-pruned-empty", dict(min_df=0.9, max_df=1.0, ngram_range=(3, 3))),
]


class Mismatch(Exception):
    pass


def load_corpus():
    paths = sorted((ROOT / "assets" / "fortunes").glob("*/*.txt"))
    docs = [p.read_bytes().decode("utf-8") for p in paths]
    fit = [d for i, d in enumerate(docs) if i % 5 != 4]
    held_out = [d for i, d in enumerate(docs) if i % 5 == 4]
    # Plus a document with no known terms (a zero row) and one fitted document.
    return fit, held_out + ["", "zzqx qqqv", fit[0]]


def build():
    # CI has just built every example with `cargo test`; building again could only change features.
    if os.environ.get("KILN_SKIP_BUILD") == "1" and BINARY.exists():
        return
    cmd = ["cargo", "build", "-q", "--workspace", "--exclude", "kiln-remote", "--example", "tfidf_matrix"]
    subprocess.run(cmd, cwd=ROOT, check=True)


def run_kiln(settings, fit, transform):
    """Returns (vocabulary, idf, matrix), or raises Mismatch with the binary's error."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.json", Path(folder) / "out.json"
        payload = {"settings": settings, "fit": fit, "transform": transform}
        source.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        done = subprocess.run([str(BINARY), str(source), str(target)], capture_output=True, text=True)
        if done.returncode != 0:
            raise Mismatch(f"kiln failed: {done.stderr.strip()}")
        out = json.loads(target.read_text(encoding="utf-8"))
    return out["vocabulary"], np.array(out["idf"], dtype=float), np.array(out["matrix"], dtype=float)


def kiln_settings(params):
    """TfidfVectorizer keyword arguments as Kiln's TfidfSettings JSON (ints stay counts)."""
    settings = dict(params)
    if "ngram_range" in settings:
        settings["ngram_range"] = list(settings["ngram_range"])
    return settings


def stable_vocabulary(params, fit):
    """The vocabulary scikit-learn would choose if its max_features ranking were stable."""
    counting = {k: v for k, v in params.items() if k not in ("max_features", "sublinear_tf", "smooth_idf", "norm")}
    cv = CountVectorizer(**counting)
    totals = np.asarray(cv.fit_transform(fit).sum(axis=0)).ravel()
    names = cv.get_feature_names_out()  # sorted by name when max_features is None
    limit = params["max_features"]
    if len(names) <= limit:
        return list(names), totals, names
    chosen = (-totals).argsort(kind="stable")[:limit]
    return sorted(names[chosen]), totals, names


def reference(params, fit, transform):
    """Returns (fitted vectorizer, note) for the exact reference Kiln must match."""
    plain = TfidfVectorizer(**params).fit(fit)
    if params.get("max_features") is None:
        return plain, ""
    vocabulary, totals, names = stable_vocabulary(params, fit)
    ties_note = check_only_ties_differ(plain, vocabulary, totals, names, params["max_features"])
    fixed = {k: v for k, v in params.items() if k not in ("max_features", "min_df", "max_df")}
    stable = TfidfVectorizer(vocabulary=vocabulary, **fixed).fit(fit)
    return stable, ties_note


def check_only_ties_differ(plain, vocabulary, totals, names, limit):
    total_of = dict(zip(names, totals))
    ours, theirs = set(vocabulary), set(plain.vocabulary_)
    if len(ours) != len(theirs):
        raise Mismatch(f"stable vocabulary has {len(ours)} terms, sklearn {len(theirs)}")
    if ours == theirs:
        return ""
    cutoff = sorted((total_of[t] for t in ours), reverse=True)[min(limit, len(ours)) - 1]
    for term in sorted(ours ^ theirs):
        if total_of[term] != cutoff:
            raise Mismatch(f"sklearn's max_features choice differs on untied term {term!r}")
    return f"  ({len(ours - theirs)} terms tied at count {cutoff} kept differently by NumPy argsort)"


def compare(name, params, fit, transform):
    ref, note = reference(params, fit, transform)
    expected_vocab = list(ref.get_feature_names_out())
    matrix = ref.transform(transform).toarray()
    if matrix.dtype != np.float64 or ref.idf_.dtype != np.float64:
        raise Mismatch(f"sklearn computed in {matrix.dtype}/{ref.idf_.dtype}, not float64")
    vocab, idf, ours = run_kiln(kiln_settings(params), fit, transform)
    compare_vocabulary(vocab, expected_vocab)
    idf_diff = compare_values("idf", idf, ref.idf_, IDF_TOL, expected_vocab)
    value_diff = compare_values("matrix", ours, matrix, VALUE_TOL, expected_vocab)
    return (
        f"ok    {name:<20} vocab {len(vocab):5d}  max|idf diff| {idf_diff:.1e}"
        f"  max|value diff| {value_diff:.1e}{note}"
    )


def compare_vocabulary(ours, expected):
    for i, (a, b) in enumerate(zip(ours, expected)):
        if a != b:
            raise Mismatch(f"vocabulary differs first at column {i}: kiln {a!r}, sklearn {b!r}")
    if len(ours) != len(expected):
        raise Mismatch(f"vocabulary size: kiln {len(ours)}, sklearn {len(expected)}")


def compare_values(what, ours, expected, tol, vocab):
    if ours.shape != expected.shape:
        raise Mismatch(f"{what} shape: kiln {ours.shape}, sklearn {expected.shape}")
    if ours.size == 0:
        return 0.0
    diff = np.abs(ours - expected)
    worst = float(diff.max())
    if not worst <= tol:
        first = np.argwhere(~(diff <= tol))[0]
        column = first[-1]
        where = f"row {first[0]}, " if len(first) == 2 else ""
        raise Mismatch(
            f"{what} differs at {where}term {vocab[column]!r}: kiln {float(ours[tuple(first)])!r}, "
            f"sklearn {float(expected[tuple(first)])!r} (max diff {worst:.3e})"
        )
    return worst


def compare_error(name, params, fit, transform):
    try:
        TfidfVectorizer(**params).fit(fit)
    except ValueError as error:
        expected = str(error)
    else:
        raise Mismatch("sklearn accepted these settings; the case is wrong")
    try:
        run_kiln(kiln_settings(params), fit, transform)
    except Mismatch as error:
        return f"ok    {name:<20} both reject: sklearn {expected!r}; {error}"
    raise Mismatch(f"kiln accepted settings sklearn rejects ({expected})")


def main():
    build()
    fit, transform = load_corpus()
    print(
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}: "
        f"{len(fit)} fit documents, {len(transform)} transformed"
    )
    passed = failed = 0
    checks = [(n, p, compare) for n, p in CASES] + [(n, p, compare_error) for n, p in ERROR_CASES]
    for name, params, check in checks:
        try:
            print(check(name, params, fit, transform))
            passed += 1
        except Mismatch as error:
            print(f"FAIL  {name:<20} {error}")
            failed += 1
    print(f"tfidf: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
