"""MLflow's side of Kiln's sync tests, through MLflow's own Python client (MlflowClient).

  mlflow_e2e.py readback URL EXPERIMENT   prints, as JSON, everything the server holds of the
                                          experiment: runs, params, tags, full metric histories,
                                          artifacts (sha256), model versions and aliases
  mlflow_e2e.py log URL EXPERIMENT        logs a small experiment of three runs, and prints it
  mlflow_e2e.py plant URL EXPERIMENT KEY PARAM VALUE
                                          creates a RUNNING run tagged kiln.key=KEY whose param
                                          PARAM already holds VALUE
"""

import contextlib
import hashlib
import json
import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow.entities import Metric, Param, RunTag, ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def artifacts(client, run_id, path=None):
    """Every file of a run's artifacts: path -> sha256 of its bytes."""
    out = {}
    for f in client.list_artifacts(run_id, path):
        if f.is_dir:
            out.update(artifacts(client, run_id, f.path))
        else:
            local = client.download_artifacts(run_id, f.path)
            with open(local, "rb") as fh:
                out[f.path] = hashlib.sha256(fh.read()).hexdigest()
    return out


def readback(url, name):
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return {"experiment": None}
    runs = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    out_runs = []
    run_ids = set()
    for run in runs:
        run_ids.add(run.info.run_id)
        history = {}
        for key in run.data.metrics:
            history[key] = [
                [m.step, m.timestamp, None if m.value != m.value else m.value]
                for m in client.get_metric_history(run.info.run_id, key)
            ]
        out_runs.append(
            {
                "run_id": run.info.run_id,
                "name": run.info.run_name,
                "status": run.info.status,
                "start_time": run.info.start_time,
                "end_time": run.info.end_time,
                "params": run.data.params,
                "tags": run.data.tags,
                "metrics": history,
                "artifacts": artifacts(client, run.info.run_id),
            }
        )
    versions = []
    for model in client.search_registered_models():
        detail = client.get_registered_model(model.name)
        for v in client.search_model_versions(f"name='{model.name}'"):
            if v.run_id not in run_ids:
                continue
            versions.append(
                {
                    "model": model.name,
                    "version": v.version,
                    "run_id": v.run_id,
                    "source": v.source,
                    "tags": v.tags,
                    "aliases": sorted(a for a, n in detail.aliases.items() if str(n) == str(v.version)),
                }
            )
    return {"experiment": experiment.experiment_id, "runs": out_runs, "versions": versions}


def log(url, name):
    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    logged = []
    for i in range(3):
        run = client.create_run(experiment_id, run_name=f"sklearn-{i}", start_time=1_700_000_000_000 + i)
        rid = run.info.run_id
        params = [Param("C", str(10 ** (i - 1))), Param("solver", "lbfgs")]
        tags = [RunTag("team", "workshop")]
        metrics = [Metric("val/accuracy", 0.5 + 0.1 * i + 0.01 * s, 1_700_000_000_100 + s, s) for s in range(25)]
        metrics.append(Metric("loss", float("nan"), 1_700_000_000_500, 99))
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        client.set_terminated(rid, "FINISHED" if i < 2 else "FAILED", end_time=1_700_000_001_000 + i)
        logged.append({"run_id": rid, "name": f"sklearn-{i}", "points": len(metrics)})
    return {"experiment": experiment_id, "runs": logged}


def plant(url, name, key, param, value):
    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    run = client.create_run(experiment_id, tags={"kiln.key": key})
    client.log_param(run.info.run_id, param, value)
    return {"run_id": run.info.run_id}


def main():
    what, url, name = sys.argv[1], sys.argv[2], sys.argv[3]
    # MLflow prints links to runs on stdout; only the JSON goes there.
    with contextlib.redirect_stdout(sys.stderr):
        if what == "readback":
            result = readback(url, name)
        elif what == "log":
            result = log(url, name)
        else:
            result = plant(url, name, *sys.argv[4:7])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
