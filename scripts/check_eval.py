"""Cross-checks Kiln's evaluation and fairness metrics (kiln-core eval) against scikit-learn and
Fairlearn.

Several deterministic cases are generated with a seeded NumPy generator: binary and multiclass
(3 and 4 classes) probabilities on a coarse grid, so that scores tie, with classes that are never
predicted, one class absent from the truth, groups without positives, rows without a group, and
a binary case where nobody is selected. Each case goes through the `eval_metrics` example and
every number it reports is compared with the reference within 1e-9:

- scikit-learn: accuracy_score, precision_recall_fscore_support (labels=all classes,
  average=None, zero_division=0), f1_score macro/micro/weighted, confusion_matrix,
  roc_auc_score (binary on class 1; multiclass ovr/macro; per-class one-vs-rest),
  average_precision_score (binary; per-class one-vs-rest and their macro mean), and for binary
  cases the threshold curve against roc_curve / precision_recall_curve and NumPy directly;
- Fairlearn: MetricFrame by group (count, accuracy, selection rate, TPR, FPR, macro F1),
  demographic_parity_difference/ratio and equalized_odds_difference, on the labels binarised
  with the positive class.

Undefined values: Kiln reports None where scikit-learn's ROC AUC is NaN (a class absent from or
always present in the truth; the multiclass macro then too); where the average precision has no
positive (scikit-learn warns and returns 0; Kiln's macro is then None); where a group has no
positive (TPR) or no negative (FPR) row (Fairlearn gives 0, and so does Kiln's equalized odds
difference); and for the demographic parity ratio when nobody is selected (NaN in Fairlearn).

Run through scripts/check-eval.sh, which provides scikit-learn and Fairlearn in .bench/venv.
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
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

ROOT = Path(__file__).resolve().parent.parent
# Where cargo put the example: its target folder, wherever CARGO_TARGET_DIR moved it.
BINARY = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug" / "examples" / "eval_metrics"
TOL = 1e-9
MISSING = "(missing)"

warnings.filterwarnings("ignore")  # undefined metrics warn; they are checked explicitly


# ---------------------------------------------------------------- cases


def grid_probabilities(rng, rows, k, low, high):
    """Rows of probabilities w / sum(w) with integer weights, so that scores tie. low and high
    are per-class inclusive weight bounds; returned as float32 (what Kiln reads)."""
    weights = np.stack(
        [rng.integers(low[c], high[c] + 1, size=rows) for c in range(k)], axis=1
    ).astype(np.float64)
    weights[weights.sum(axis=1) == 0, 0] = 1.0
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def sample_truth(rng, probs, allowed, noise=0.25):
    """Labels drawn mostly from the probabilities (so AUCs are informative), restricted to the
    allowed classes."""
    p = probs.astype(np.float64)[:, allowed]
    p = (1 - noise) * p / p.sum(axis=1, keepdims=True) + noise / len(allowed)
    draws = [rng.choice(len(allowed), p=row / row.sum()) for row in p]
    return np.array(allowed)[draws]


def groups_for(rng, rows, names, missing_share=0.0):
    groups = [str(g) for g in rng.choice(names, size=rows)]
    return [None if rng.random() < missing_share else g for g in groups]


def make_case(name, classes, probs, y_true, groups, positive):
    return {
        "name": name,
        "classes": classes,
        "y_true": [int(y) for y in y_true],
        # The exact float32 values as float64: both sides read the same numbers.
        "probabilities": [[float(v) for v in row] for row in probs],
        "groups": groups,
        "positive": positive,
    }


def cases():
    rng = np.random.default_rng(20240611)
    out = []

    probs = grid_probabilities(rng, 300, 2, [1, 1], [8, 8])
    y = sample_truth(rng, probs, [0, 1])
    groups = groups_for(rng, 300, ["north", "south", "east"], missing_share=0.05)
    groups = ["islands" if i % 50 == 0 and y[i] == 0 else g for i, g in enumerate(groups)]
    out.append(make_case("binary-ties", ["neg", "pos"], probs, y, groups, 1))

    probs = grid_probabilities(rng, 160, 2, [2, 0], [9, 4])
    y = sample_truth(rng, probs, [0, 1], noise=0.1)
    out.append(
        make_case("binary-rare-positive", ["ok", "fraud"], probs, y, groups_for(rng, 160, ["a", "b"]), 0)
    )

    probs = grid_probabilities(rng, 120, 2, [5, 0], [9, 4])  # class 1 never predicted
    y = sample_truth(rng, probs, [0, 1], noise=0.4)
    out.append(
        make_case("binary-none-selected", ["deny", "grant"], probs, y, groups_for(rng, 120, ["p", "q", "r"]), 1)
    )

    probs = grid_probabilities(rng, 240, 3, [1, 1, 0], [6, 6, 1])  # class 2 never predicted
    y = sample_truth(rng, probs, [0, 1, 2])
    out.append(
        make_case("multiclass-3-never-predicted", ["cat", "dog", "eel"], probs, y, groups_for(rng, 240, ["x", "y", "z"], 0.1), 1)
    )

    probs = grid_probabilities(rng, 280, 4, [1, 1, 1, 0], [5, 5, 5, 3])
    y = sample_truth(rng, probs, [0, 1, 2])  # class 3 absent from the truth
    out.append(
        make_case("multiclass-4-absent-class", ["w", "x", "y", "z"], probs, y, groups_for(rng, 280, ["g1", "g2"]), 3)
    )

    probs = grid_probabilities(rng, 320, 4, [1, 1, 1, 1], [4, 4, 4, 4])
    y = sample_truth(rng, probs, [0, 1, 2, 3])
    groups = groups_for(rng, 320, ["alpha", "beta", "gamma", "delta"])
    groups = ["omega" if i % 40 == 0 and y[i] != 1 else g for i, g in enumerate(groups)]
    out.append(make_case("multiclass-4-ties", ["c0", "c1", "c2", "c3"], probs, y, groups, 1))
    return out


# ---------------------------------------------------------------- comparison


def undefined(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def show(v):
    return "undefined" if undefined(v) else repr(float(v))


class Checker:
    def __init__(self):
        self.compared = 0
        self.failures = []

    def value(self, metric, kiln, ref):
        self.compared += 1
        if undefined(kiln) and undefined(ref):
            return
        if undefined(kiln) or undefined(ref) or abs(float(kiln) - float(ref)) > TOL:
            self.failures.append(f"{metric}: kiln {show(kiln)} != reference {show(ref)}")

    def values(self, metric, kiln, ref):
        if len(kiln) != len(ref):
            self.failures.append(f"{metric}: kiln has {len(kiln)} values, reference {len(ref)}")
            return
        for i, (a, b) in enumerate(zip(kiln, ref)):
            self.value(f"{metric}[{i}]", a, b)

    def equal(self, metric, kiln, ref):
        self.compared += 1
        if kiln != ref:
            self.failures.append(f"{metric}: kiln {kiln!r} != reference {ref!r}")

    def zero_if_undefined(self, metric, kiln, ref, is_undefined):
        """Kiln's None where the reference's convention is 0 (no positive / no negative)."""
        if kiln is None:
            self.equal(f"{metric} (undefined)", is_undefined, True)
            self.value(metric, 0.0, ref)
        else:
            self.equal(f"{metric} (defined)", is_undefined, False)
            self.value(metric, kiln, ref)


def sk(fn, *args, **kwargs):
    try:
        return float(fn(*args, **kwargs))
    except ValueError:
        return None


def check_classification(c, case, out):
    k = len(case["classes"])
    labels = list(range(k))
    y = np.array(case["y_true"])
    probs = np.array(case["probabilities"], dtype=np.float64)
    pred = np.argmax(probs, axis=1)
    ev = out["evaluation"]

    c.equal("predicted", out["predicted"], pred.tolist())
    c.equal("rows", ev["rows"], len(y))
    c.value("accuracy", ev["accuracy"], accuracy_score(y, pred))
    for avg in ("macro", "micro", "weighted"):
        c.value(f"{avg}_f1", ev[f"{avg}_f1"], f1_score(y, pred, average=avg, zero_division=0))
    c.equal("confusion", ev["confusion"], confusion_matrix(y, pred, labels=labels).tolist())
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, average=None, zero_division=0)
    per = ev["per_class"]
    c.equal("per_class names", [m["class"] for m in per], case["classes"])
    c.values("precision", [m["precision"] for m in per], p)
    c.values("recall", [m["recall"] for m in per], r)
    c.values("f1", [m["f1"] for m in per], f)
    c.equal("support", [m["support"] for m in per], s.tolist())

    aps = []
    for j in range(k):
        yj = (y == j).astype(int)
        c.value(f"roc_auc[{case['classes'][j]}]", per[j]["roc_auc"], sk(roc_auc_score, yj, probs[:, j]))
        ap = sk(average_precision_score, yj, probs[:, j])
        aps.append(ap)
        c.zero_if_undefined(f"pr_auc[{case['classes'][j]}]", per[j]["pr_auc"], ap, yj.sum() == 0)

    if k == 2:
        c.value("roc_auc", ev["roc_auc"], sk(roc_auc_score, y, probs[:, 1]))
        c.value("pr_auc", ev["pr_auc"], sk(average_precision_score, y, probs[:, 1]))
        check_thresholds(c, ev["thresholds"], y == 1, probs[:, 1])
    else:
        macro_roc = sk(roc_auc_score, y, probs, multi_class="ovr", average="macro", labels=labels)
        c.value("roc_auc (ovr macro)", ev["roc_auc"], macro_roc)
        # scikit-learn's macro AP counts an absent class as 0; Kiln leaves the macro undefined.
        absent = any((y == j).sum() == 0 for j in labels)
        macro_ap = None if absent else float(np.mean(aps))
        c.value("pr_auc (ovr macro)", ev["pr_auc"], macro_ap)
        c.equal("thresholds (multiclass)", ev["thresholds"], [])


def check_thresholds(c, points, positive, scores):
    distinct = np.unique(scores)[::-1]
    c.values("threshold", [pt["threshold"] for pt in points], distinct)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    fpr, tpr, roc_t = roc_curve(positive, scores, drop_intermediate=False)
    prec, rec, pr_t = precision_recall_curve(positive, scores)
    roc_at = {float(t): (fp, tp) for fp, tp, t in zip(fpr, tpr, roc_t)}
    pr_at = {float(t): (pp, rr) for pp, rr, t in zip(prec[:-1], rec[:-1], pr_t)}
    for pt in points:
        t = pt["threshold"]
        chosen = scores >= t
        tp, fp = (chosen & positive).sum(), (chosen & ~positive).sum()
        precision, recall = tp / (tp + fp), tp / n_pos
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        for name, ref in (("precision", precision), ("recall", recall), ("tpr", recall),
                          ("fpr", fp / n_neg), ("f1", f1)):
            c.value(f"threshold {t:.6g} {name} (numpy)", pt[name], ref)
        c.value(f"threshold {t:.6g} fpr (roc_curve)", pt["fpr"], roc_at[t][0])
        c.value(f"threshold {t:.6g} tpr (roc_curve)", pt["tpr"], roc_at[t][1])
        if t in pr_at:
            c.value(f"threshold {t:.6g} precision (pr_curve)", pt["precision"], pr_at[t][0])
            c.value(f"threshold {t:.6g} recall (pr_curve)", pt["recall"], pr_at[t][1])


def check_fairness(c, case, out):
    y = np.array(case["y_true"])
    pred = np.array(out["predicted"])
    pos = case["positive"]
    groups = np.array([MISSING if g is None else g for g in case["groups"]])
    yb, pb = (y == pos).astype(int), (pred == pos).astype(int)
    report = out["fairness"]
    c.equal("fairness positive", report["positive"], case["classes"][pos])

    raw = MetricFrame(
        metrics={
            "count": count,
            "accuracy": accuracy_score,
            "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
        },
        y_true=y, y_pred=pred, sensitive_features=groups,
    ).by_group
    binarised = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=yb, y_pred=pb, sensitive_features=groups,
    ).by_group
    names = sorted(set(groups.tolist()))
    c.equal("group order", [g["group"] for g in report["groups"]], names)
    for g in report["groups"]:
        name = g["group"]
        in_group = groups == name
        c.equal(f"count[{name}]", g["count"], int(raw.loc[name, "count"]))
        c.value(f"accuracy[{name}]", g["accuracy"], raw.loc[name, "accuracy"])
        c.value(f"macro_f1[{name}]", g["macro_f1"], raw.loc[name, "macro_f1"])
        c.value(f"selection_rate[{name}]", g["selection_rate"], binarised.loc[name, "selection_rate"])
        no_pos, no_neg = yb[in_group].sum() == 0, (1 - yb[in_group]).sum() == 0
        c.zero_if_undefined(f"tpr[{name}]", g["true_positive_rate"], binarised.loc[name, "tpr"], no_pos)
        c.zero_if_undefined(f"fpr[{name}]", g["false_positive_rate"], binarised.loc[name, "fpr"], no_neg)

    kw = dict(sensitive_features=groups)
    c.value("demographic_parity_difference", report["demographic_parity_difference"],
            demographic_parity_difference(yb, pb, **kw))
    c.value("demographic_parity_ratio", report["demographic_parity_ratio"],
            demographic_parity_ratio(yb, pb, **kw))
    c.value("equalized_odds_difference", report["equalized_odds_difference"],
            equalized_odds_difference(yb, pb, **kw))


def run_kiln(case, tmp):
    inp, outp = Path(tmp) / f"{case['name']}.in.json", Path(tmp) / f"{case['name']}.out.json"
    payload = {key: case[key] for key in ("classes", "y_true", "probabilities", "groups", "positive")}
    inp.write_text(json.dumps(payload))
    subprocess.run([str(BINARY), str(inp), str(outp)], check=True)
    return json.loads(outp.read_text())


def describe(case, out):
    ev = out["evaluation"]
    y = np.array(case["y_true"])
    k = len(case["classes"])
    never = [case["classes"][j] for j in range(k) if j not in set(out["predicted"])]
    absent = [case["classes"][j] for j in range(k) if (y == j).sum() == 0]
    notes = []
    if never:
        notes.append(f"never predicted {','.join(never)}")
    if absent:
        notes.append(f"absent {','.join(absent)}")
    if k == 2:
        notes.append(f"{len(ev['thresholds'])} thresholds")
    fair = out["fairness"]
    notes.append(f"{len(fair['groups'])} groups")
    if any(g["true_positive_rate"] is None for g in fair["groups"]):
        notes.append("group without positives")
    return f"{k} classes, {ev['rows']} rows, " + ", ".join(notes)


def main():
    if not BINARY.exists():
        sys.exit(f"{BINARY} is missing: build it with cargo build --workspace --exclude kiln-remote --example eval_metrics")
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            out = run_kiln(case, tmp)
            c = Checker()
            check_classification(c, case, out)
            check_fairness(c, case, out)
            if c.failures:
                failed += 1
                print(f"FAIL {case['name']} ({describe(case, out)}): {len(c.failures)} of {c.compared} values differ")
                for failure in c.failures[:20]:
                    print(f"    {failure}")
            else:
                passed += 1
                print(f"ok   {case['name']} ({describe(case, out)}): {c.compared} values match")
    print(f"eval: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
