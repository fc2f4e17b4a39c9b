"""scikit-learn's side of the search benchmark: GridSearchCV over MLPClassifier on the penguins,
with the same grid as scripts/bench-space.toml, the same features (standardised numbers with
mean imputation, one-hot categories) and a stratified 70/15/15 split, the validation part as
GridSearchCV's single fold."""

import csv
import sys
import time
import warnings

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

warnings.filterwarnings("ignore", category=ConvergenceWarning)
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
CATEGORICAL = ["island", "sex"]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[r[c] if r[c] != "NA" else np.nan for c in NUMERIC + CATEGORICAL] for r in rows], dtype=object)
    y = np.array([r["species"] for r in rows])
    return x, y


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "assets/penguins.csv"
    x, y = load(path)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.15, stratify=y, random_state=42)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.15 / 0.85, stratify=y_rest, random_state=42)
    n_num = len(NUMERIC)
    features = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), list(range(n_num))),
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(range(n_num, n_num + len(CATEGORICAL)))),
    ])
    model = Pipeline([("features", features), ("mlp", MLPClassifier(max_iter=50, n_iter_no_change=50, tol=0.0, random_state=42))])
    grid = {
        "mlp__learning_rate_init": [0.001, 0.01],
        "mlp__batch_size": [16, 32],
        "mlp__hidden_layer_sizes": [(16,), (64,)],
    }
    x_search = np.concatenate([x_train, x_val])
    y_search = np.concatenate([y_train, y_val])
    fold = PredefinedSplit([-1] * len(y_train) + [0] * len(y_val))
    search = GridSearchCV(model, grid, scoring="f1_macro", cv=fold, n_jobs=1, refit=False)
    start = time.perf_counter()
    search.fit(x_search, y_search)
    seconds = time.perf_counter() - start
    best = model.set_params(**search.best_params_).fit(x_train, y_train)
    test_accuracy = accuracy_score(y_test, best.predict(x_test))
    print(f"sklearn GridSearchCV: {len(search.cv_results_['params'])} trials in {seconds:.2f} s; "
          f"best val macro-F1 {search.best_score_:.4f}, its test accuracy {test_accuracy:.4f}")
    print(f"SKLEARN_SECONDS={seconds:.3f}")
    print(f"SKLEARN_BEST={search.best_score_:.4f}")


if __name__ == "__main__":
    main()
