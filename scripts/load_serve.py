"""Load on `kiln serve`, on loopback only and bounded: CLIENTS clients follow a running study's
live events for SECONDS seconds.

Each client is a raw HTTP connection reading Server-Sent Events. For every metric point that
arrives, the delay is the arrival time minus the point's log time (the time the training loop
handed it over, which is before its commit: the figure is an upper bound of commit-to-arrival).
Reports the p50, p95 and p99 delays over all clients, and the server's CPU time and memory.

    python3 scripts/load_serve.py KILN PROJECT.kiln [CLIENTS] [SECONDS]
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def http(host, port, method, path, token=None, body=None):
    request = urllib.request.Request(
        f"http://{host}:{port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def client(host, port, project, stop_at, delays, counts, index):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /api/projects/{project}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    buffer = b""
    event = None
    try:
        while True:
            left = stop_at - time.time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=left)
            except asyncio.TimeoutError:
                break
            if not chunk:
                break
            arrived = time.time() * 1000.0
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                line = line.rstrip(b"\r")
                if line.startswith(b"event: "):
                    event = line[7:]
                elif line.startswith(b"data: ") and event == b"points":
                    for p in json.loads(line[6:])["points"]:
                        delays.append(arrived - p["timestamp"])
                        counts[index] += 1
    finally:
        writer.close()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def follow_all(host, port, project, clients, seconds):
    delays = []
    counts = [0] * clients
    stop_at = time.time() + seconds
    await asyncio.gather(*(client(host, port, project, stop_at, delays, counts, i)
                           for i in range(clients)))
    return delays, counts


def main():
    kiln, project_file = sys.argv[1:3]
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    serve = subprocess.Popen([kiln, "serve", project_file, "--bind", "127.0.0.1:0", "--allow-writes"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in serve.stdout:
            m = re.match(r"open: http://([^/]+)/#token=(\S+)", line)
            if m:
                url = m
            if line.startswith("press Ctrl-C"):
                break
        host, port = url.group(1).rsplit(":", 1)
        token = url.group(2)
        project = http(host, port, "GET", "/api/")["projects"][0]["id"]
        # A study long enough to outlast the load: trials of many epochs, one after another.
        space = "learning_rate = [0.001, 0.003, 0.01, 0.03]\nepochs = 5000\nbatch_size = 16\nhidden = [32]\n"
        job = http(host, port, "POST", f"/api/projects/{project}/studies", token,
                   {"dataset": "penguins", "space": space, "device": "cpu"})
        time.sleep(2.0)
        cpu0, t0 = cpu_seconds(serve.pid), time.time()
        delays, counts = asyncio.run(follow_all(host, port, project, clients, seconds))
        cpu1, t1 = cpu_seconds(serve.pid), time.time()
        memory = memory_mib(serve.pid)
        http(host, port, "POST", f"/api/projects/{project}/jobs/{job['ticket']}/cancel", token, {})
    finally:
        serve.terminate()
        serve.wait(timeout=120)
    if not delays:
        raise SystemExit("no point arrived: the study logged nothing")
    per_client = sorted(counts)
    print(f"{clients} clients followed a running study for {t1 - t0:.0f} s on loopback")
    print(f"  points received: {len(delays):,} ({per_client[0]:,} to {per_client[-1]:,} per client)")
    print(f"  delay from log to arrival: p50 {percentile(delays, 0.50):.1f} ms, "
          f"p95 {percentile(delays, 0.95):.1f} ms, p99 {percentile(delays, 0.99):.1f} ms, "
          f"max {max(delays):.1f} ms (goal: p99 under 250 ms)")
    print(f"  kiln serve (training included): {(cpu1 - cpu0) / (t1 - t0) * 100:.0f} % of a core, "
          f"memory {memory.get('VmRSS', 0):.0f} MiB now, {memory.get('VmHWM', 0):.0f} MiB at most")


if __name__ == "__main__":
    main()
