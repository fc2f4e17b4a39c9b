"""scikit-learn's side of the search benchmark (scripts/bench-search.sh): GridSearchCV over the
same grid as Kiln's space file, with the same features (standardised numbers with mean
imputation and one-hot categories, or TF-IDF for text, with the defaults both share) and a
stratified 70/15/15 split, the validation part as GridSearchCV's single fold, one trial at a
time.

    python scripts/sklearn_search.py DATASET PATH MODEL SPACE.toml

DATASET is penguins, diamonds (a CSV) or fortunes (a corpus folder); MODEL is mlp or logreg.
"""

import csv
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
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
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
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.15, stratify=y, random_state=42)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.15 / 0.85, stratify=y_rest, random_state=42
    )
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


if __name__ == "__main__":
    main()
