"""MLflow's side of the metric-logging benchmark: N points through MlflowClient.log_batch
(1000 metrics per call, MLflow's maximum) into an MLflow SQLite tracking store."""

import os
import sys
import tempfile
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow.entities import Metric  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    folder = tempfile.mkdtemp(prefix="mlflow-bench-")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
    experiment = client.create_experiment("bench", artifact_location=f"file://{folder}/artifacts")
    run_id = client.create_run(experiment).info.run_id  # schema set-up stays out of the timing

    start = time.perf_counter()
    for first in range(0, n, 1000):
        stamp = int(time.time() * 1000)
        batch = [Metric("loss", 1.0 / (s + 1), stamp, s) for s in range(first, min(first + 1000, n))]
        client.log_batch(run_id, metrics=batch)
    seconds = time.perf_counter() - start

    stored = len(client.get_metric_history(run_id, "loss"))
    assert stored == n, f"MLflow stored {stored} of {n} points"
    print(f"mlflow log_batch(1000): {n} points in {seconds:.3f} s = {n / seconds:.0f} points/s")
    print(f"MLFLOW_POINTS_PER_SEC={n / seconds:.0f}")


if __name__ == "__main__":
    main()
