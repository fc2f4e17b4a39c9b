"""Cross-checks Kiln's logistic regression solver (kiln-core train::lbfgs) against
scikit-learn's LogisticRegression(C=c, solver="lbfgs").

Each case runs a dataset through Kiln's own feature pipeline and solver (the `logreg_fit`
example), then fits scikit-learn on the very same feature matrix and labels, both solved to a
tight tolerance, and compares:

- the coefficients and intercepts: the largest difference at most 1e-3 of the largest
  coefficient (relative), for two classes against scikit-learn's single vector (class 1 against
  class 0) and for more against its multinomial matrix;
- the predicted class of every row: the same.

The cases: Kiln's shipped datasets (the penguins' species, three classes; the penguins' sex,
two; the fortunes' topics from TF-IDF, four) and scikit-learn's own breast cancer (two), wine
(three) and digits (ten), each at C = 0.1, 1 and 10.

Run through scripts/check-logreg.sh, which provides scikit-learn in .bench/venv.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
EXAMPLE = TARGET / "debug" / "examples" / "logreg_fit"
TOL = 1e-10
MAX_ITER = 20000
RELATIVE = 1e-3


def sklearn_csv(folder, name, bunch):
    path = Path(folder) / f"{name}.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(bunch.data.shape[1])] + ["target"])
        for row, target in zip(bunch.data, bunch.target):
            w.writerow([repr(float(v)) for v in row] + [f"c{target}"])
    return str(path)


def check(data, label, c, folder):
    out = Path(folder) / "out.json"
    subprocess.run(
        [str(EXAMPLE), data, label, str(c), str(TOL), str(MAX_ITER), str(out)], check=True
    )
    kiln = json.loads(out.read_text())
    x = np.asarray(kiln["x"], dtype=np.float64)
    y = np.asarray(kiln["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogisticRegression(C=c, tol=TOL, max_iter=MAX_ITER).fit(x, y)
    coef = np.asarray(kiln["coef"])
    intercept = np.asarray(kiln["intercept"])
    if len(kiln["classes"]) == 2:
        coef, intercept = coef[1:], intercept[1:]
    scale = max(np.abs(model.coef_).max(), np.abs(model.intercept_).max())
    diff = max(np.abs(coef - model.coef_).max(), np.abs(intercept - model.intercept_).max())
    logits = x @ np.asarray(kiln["coef"]).T + np.asarray(kiln["intercept"])
    predicted = logits.argmax(axis=1)
    agree = (predicted == model.predict(x)).mean()
    ok = diff <= RELATIVE * scale and agree == 1.0 and kiln["converged"]
    name = f"{Path(data).stem}/{label} C={c}"
    print(
        f"{'ok  ' if ok else 'FAIL'} {name:28} {x.shape[0]:5} rows {x.shape[1]:5} features "
        f"{len(kiln['classes']):2} classes: max |diff| {diff:.2e} of {scale:.2e} "
        f"({diff / scale:.1e} relative), predictions agree {agree:.4f}, "
        f"{kiln['iterations']} iterations (scikit-learn {int(np.max(model.n_iter_))})"
    )
    return ok


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        cases = [
            (str(ROOT / "assets/penguins.csv"), "species"),
            (str(ROOT / "assets/penguins.csv"), "sex"),
            (str(ROOT / "assets/fortunes"), "label"),
            (sklearn_csv(folder, "breast_cancer", datasets.load_breast_cancer()), "target"),
            (sklearn_csv(folder, "wine", datasets.load_wine()), "target"),
            (sklearn_csv(folder, "digits", datasets.load_digits()), "target"),
        ]
        for data, label in cases:
            for c in (0.1, 1.0, 10.0):
                failures += not check(data, label, c, folder)
    if failures:
        print(f"{failures} case(s) differ from scikit-learn", file=sys.stderr)
        sys.exit(1)
    print("every case matches scikit-learn")


if __name__ == "__main__":
    main()
