"""scikit-learn's side of the search benchmark (scripts/bench-search.sh): GridSearchCV over the
same grid as Kiln's space file, with the same features (standardised numbers with mean
imputation and one-hot categories, or TF-IDF for text, with the defaults both share) and the
very rows of Kiln's seeded, stratified 70/15/15 split (its generator and rule are
reimplemented below), the validation part as GridSearchCV's single fold, one trial at a time.
Both sides are therefore scored on the same test rows.

    python scripts/sklearn_search.py DATASET PATH MODEL SPACE.toml

DATASET is penguins, diamonds (a CSV) or fortunes (a corpus folder); MODEL is mlp or logreg.
"""

import csv
import math
import sys
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

warnings.filterwarnings("ignore", category=ConvergenceWarning)

TABLES = {
    "penguins": (
        "species",
        ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"],
        ["island", "sex"],
    ),
    "diamonds": ("cut", ["carat", "depth", "table", "price", "x", "y", "z"], ["color", "clarity"]),
}


def load(dataset, path):
    """Rows, labels and the feature step for them."""
    if dataset == "fortunes":
        files = sorted(Path(path).glob("*/*.txt"))
        x = np.array([f.read_text(encoding="utf-8") for f in files], dtype=object)
        y = np.array([f.parent.name for f in files])
        return x, y, TfidfVectorizer()
    label, numeric, categorical = TABLES[dataset]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = ("NA", "")
    x = np.array(
        [[r[c] if r[c] not in missing else np.nan for c in numeric + categorical] for r in rows],
        dtype=object,
    )
    y = np.array([r[label] for r in rows])
    n = len(numeric)
    features = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), list(range(n))),
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(range(n, n + len(categorical)))),
    ])
    return x, y, features


MASK = (1 << 64) - 1


class SeededRng:
    """Kiln's generator (core/src/rng.rs): SplitMix64, unbiased bounded draws, Fisher-Yates."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        zone = MASK - MASK % n
        while True:
            x = self.next_u64()
            if x < zone:
                return x % n

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def kiln_split(labels, seed, validation=0.15, test=0.15):
    """Kiln's stratified split (core/src/data/split.rs): train, validation and test rows."""

    def share(n, fraction):
        return 0 if n < 2 else min(math.floor(n * fraction + 0.5), n - 1)

    by_class = {}
    for row, label in enumerate(labels):
        by_class.setdefault(label, []).append(row)
    rng = SeededRng(seed)
    train, val, held = [], [], []
    for label in sorted(by_class, key=lambda l: l.encode()):
        rows = by_class[label]
        rng.shuffle(rows)
        n = len(rows)
        n_test = share(n, test)
        n_val = min(share(n - n_test, validation / (1.0 - test)), n - n_test - 1)
        held += rows[:n_test]
        val += rows[n_test:n_test + n_val]
        train += rows[n_test + n_val:]
    return sorted(train), sorted(val), sorted(held)


def one_or_list(value):
    return value if isinstance(value, list) else [value]


def model_and_grid(model, space):
    if model == "logreg":
        return LogisticRegression(), {"model__C": one_or_list(space.get("c", 1.0))}
    epochs = space["epochs"]
    mlp = MLPClassifier(max_iter=epochs, n_iter_no_change=epochs, tol=0.0, random_state=42)
    hidden = space["hidden"]
    hidden = hidden if isinstance(hidden[0], list) else [hidden]
    return mlp, {
        "model__learning_rate_init": one_or_list(space["learning_rate"]),
        "model__batch_size": one_or_list(space["batch_size"]),
        "model__hidden_layer_sizes": [tuple(h) for h in hidden],
    }


def main():
    dataset, path, model_name, space_path = sys.argv[1:5]
    space = tomllib.loads(Path(space_path).read_text())
    x, y, features = load(dataset, path)
    train, val, held = kiln_split(list(y), space.get("seed", 42))
    x_train, y_train = x[train], y[train]
    x_val, y_val = x[val], y[val]
    x_test, y_test = x[held], y[held]
    estimator, grid = model_and_grid(model_name, space)
    model = Pipeline([("features", features), ("model", estimator)])
    x_search = np.concatenate([x_train, x_val])
    y_search = np.concatenate([y_train, y_val])
    fold = PredefinedSplit([-1] * len(y_train) + [0] * len(y_val))
    search = GridSearchCV(model, grid, scoring="f1_macro", cv=fold, n_jobs=1, refit=False)
    start = time.perf_counter()
    search.fit(x_search, y_search)
    seconds = time.perf_counter() - start
    best = model.set_params(**search.best_params_).fit(x_train, y_train)
    test_accuracy = accuracy_score(y_test, best.predict(x_test))
    print(f"SKLEARN_TRIALS={len(search.cv_results_['params'])}")
    print(f"SKLEARN_SECONDS={seconds:.3f}")
    print(f"SKLEARN_BEST={search.best_score_:.4f}")
    print(f"SKLEARN_TEST={test_accuracy:.4f}")
    print(f"SKLEARN_TEST_ROWS={len(held)}")


if __name__ == "__main__":
    main()
