"""MLflow's side of the push benchmark: RUNS runs of POINTS points (five metrics) logged to a
tracking server by MLflow's own client, with log_batch in batches of 1000 (MLflow's maximum),
each run created, given its param, filled and terminated, as a user's script would."""

import contextlib
import os
import sys
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from mlflow.entities import Metric, Param  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


def main() -> None:
    url = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    points = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"python-bench-{int(time.time() * 1000)}")
    # The data is built before the clock starts, as Kiln's project is.
    data = [
        [Metric(f"metric/{i % 5}", 1.0 / (i + r + 1), 1_700_000_000_000 + i, i // 5) for i in range(points)]
        for r in range(runs)
    ]
    start = time.perf_counter()
    # MLflow prints a link for every run it ends; the figures alone go to stdout.
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        for r in range(runs):
            run_id = client.create_run(experiment, run_name=f"run-{r}").info.run_id
            client.log_batch(run_id, params=[Param("index", str(r))])
            metrics = data[r]
            for first in range(0, points, 1000):
                client.log_batch(run_id, metrics=metrics[first:first + 1000])
            client.set_terminated(run_id, "FINISHED")
    seconds = time.perf_counter() - start
    sent = runs * points
    print(f"MLflow log_batch:     {runs} runs x {points} points in {seconds:.2f} s = {sent / seconds:.0f} points/s")
    print(f"MLFLOW_PUSH_POINTS_PER_SEC={sent / seconds:.0f}")


if __name__ == "__main__":
    main()
