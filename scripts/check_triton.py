"""Serves a Triton model repository written by `kiln export` with a real Triton Inference Server
(the `tritonserver` that ships in PyPI's nvidia-pytriton) and checks what it serves against
`kiln predict`:

1. the repository as exported: the server reads every config.pbtxt and applies its version
   policy, and its only complaint about the model is the missing onnxruntime backend (the wheel
   ships the Python backend alone);
2. a stand-in: a copy of the repository where each version folder keeps its model.onnx and
   gains a Python-backend model.py that runs that same model.onnx with onnxruntime on the CPU,
   under the same input and output names, types and shapes. Every version given by --expected
   must become ready;
3. the rows of ROWS.csv, sent at batch sizes 1 and 8 to /v2/models/NAME/versions/V/infer, and
   scored by model.onnx in onnxruntime directly, without the server: each label equals
   `kiln predict`'s prediction and each probability is within 1e-4 of its column.

The model takes one input per column of ROWS.csv, named as the column: numbers as FP32
[batch, 1] (a missing cell is NaN), categories and texts as STRING [batch, 1] (a missing cell
is the empty string). A model of the features form, one FP32 input `features` [batch, k] fed by
pipeline.json, fails the check, unless --allow-features: then it is served and probed with random
features only, and the comparison with the CSV is skipped, and said so.

    scripts/check-triton.sh --repo REPO --model NAME --rows ROWS.csv \
        --expected 1=PREDICTIONS-1.csv --expected 2=PREDICTIONS-2.csv

Run through scripts/check-triton.sh, which provides the pinned packages in .bench/venv-triton.
The servers listen on 127.0.0.1 only, every wait is bounded, and the servers are stopped
however the check ends.
"""

import argparse
import atexit
import csv
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

PROB_TOL = 1e-4
# The served and the direct onnxruntime run of the same features (the features form's probe).
SAME_TOL = 1e-5
BATCH = 8
# Triton's complaint about a model whose backend is not in --backend-directory.
ORT_MISSING = "unable to find backend library for backend 'onnxruntime'"
# The spellings Kiln reads as a missing cell (kiln-core data::table::is_missing).
MISSING = {"", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?"}
TRITON_TO_ONNX = {
    "TYPE_FP32": "tensor(float)",
    "TYPE_FP64": "tensor(double)",
    "TYPE_INT64": "tensor(int64)",
    "TYPE_INT32": "tensor(int32)",
    "TYPE_BOOL": "tensor(bool)",
    "TYPE_STRING": "tensor(string)",
}


class CheckFailed(Exception):
    """A check that did not pass; the message says what was found."""


def step(message):
    print(message, flush=True)


# --- config.pbtxt: the protobuf text format, read and written back ---------------------------


class Word(str):
    """A bare value: a number, an enum (TYPE_FP32, KIND_CPU) or a boolean."""


class Text(str):
    """A quoted string."""


class Message(list):
    """A message: its (field, value) pairs, in order."""


class List(list):
    """A `[ ... ]` list of values."""


def tokenize(text):
    tokens = []
    for line_no, line in enumerate(text.splitlines(), 1):
        i = 0
        while i < len(line):
            c = line[i]
            if c == "#":
                break
            if c.isspace():
                i += 1
            elif c in "{}[]:,;":
                tokens.append(("punct", c, line_no))
                i += 1
            elif c in "\"'":
                j, chars = i + 1, []
                while j < len(line) and line[j] != c:
                    if line[j] == "\\" and j + 1 < len(line):
                        j += 1
                    chars.append(line[j])
                    j += 1
                if j >= len(line):
                    raise CheckFailed(f"config.pbtxt line {line_no}: a string is not closed")
                tokens.append(("value", Text("".join(chars)), line_no))
                i = j + 1
            else:
                word = re.match(r"[^\s{}\[\]:,;#\"']+", line[i:]).group(0)
                tokens.append(("value", Word(word), line_no))
                i += len(word)
    return tokens


def parse_pbtxt(text):
    tokens = tokenize(text)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None, None)

    def fields(close):
        nonlocal pos
        out = Message()
        while True:
            kind, tok, line_no = peek()
            if kind is None:
                if close:
                    raise CheckFailed("config.pbtxt ends inside a { }")
                return out
            pos += 1
            if kind == "punct" and tok == close:
                return out
            if kind == "punct" and tok in ",;":
                continue
            if not isinstance(tok, Word):
                raise CheckFailed(f"config.pbtxt line {line_no}: expected a field name, found {tok!r}")
            if peek()[:2] == ("punct", ":"):
                pos += 1
            out.append((str(tok), value()))

    def value():
        nonlocal pos
        kind, tok, line_no = peek()
        if kind is None:
            raise CheckFailed("config.pbtxt ends where a value was expected")
        pos += 1
        if kind == "value":
            return tok
        if tok == "{":
            return fields("}")
        if tok == "[":
            items = List()
            while True:
                kind, tok, _ = peek()
                if kind is None:
                    raise CheckFailed("config.pbtxt ends inside a [ ]")
                if kind == "punct" and tok in "],":
                    pos += 1
                    if tok == "]":
                        return items
                else:
                    items.append(value())
        raise CheckFailed(f"config.pbtxt line {line_no}: unexpected {tok!r}")

    return fields(None)


def all_of(message, key):
    """A field's values, lists flattened (`input [ {..}, {..} ]` and repeated `input {..}`)."""
    out = []
    for k, v in message:
        if k == key:
            out.extend(v if isinstance(v, List) else [v])
    return out


def first(message, key, default=None):
    values = all_of(message, key)
    return values[0] if values else default


def dump_pbtxt(message, indent=""):
    def render(v, indent):
        if isinstance(v, Message):
            return "{\n" + dump_pbtxt(v, indent + "  ") + indent + "}"
        if isinstance(v, List) and v and all(isinstance(item, Message) for item in v):
            inner = indent + "  "
            items = ",\n".join(inner + render(item, inner) for item in v)
            return "[\n" + items + "\n" + indent + "]"
        if isinstance(v, List):
            return "[ " + ", ".join(render(item, indent) for item in v) + " ]"
        if isinstance(v, Text):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return str(v)

    return "".join(
        f"{indent}{key}{' ' if isinstance(v, Message) else ': '}{render(v, indent)}\n" for key, v in message
    )


class ModelConfig:
    """What the checks need of a model's config.pbtxt."""

    def __init__(self, path):
        self.path = path
        self.tree = parse_pbtxt(path.read_text())
        self.max_batch_size = int(first(self.tree, "max_batch_size", "0"))
        self.inputs = [self._tensor(t, "input") for t in all_of(self.tree, "input")]
        self.outputs = [self._tensor(t, "output") for t in all_of(self.tree, "output")]
        if self.max_batch_size <= 0:
            raise CheckFailed(
                f"{path}: max_batch_size is {self.max_batch_size}; Kiln exports batched models (> 0)"
            )
        if not self.inputs or not self.outputs:
            raise CheckFailed(f"{path}: the configuration declares no input or no output")

    def _tensor(self, t, section):
        name, dtype = first(t, "name"), first(t, "data_type")
        if not isinstance(t, Message) or name is None or dtype is None:
            raise CheckFailed(f"{self.path}: an {section} lacks its name or data_type")
        return {"name": str(name), "type": str(dtype), "dims": [int(d) for d in all_of(t, "dims")]}

    def describe(self, tensors):
        return ", ".join(f"{t['name']} {t['type']} {t['dims']}" for t in tensors)

    def served_versions(self, folders):
        """The versions Triton serves out of these numeric folders, by version_policy (by
        default the latest one)."""
        policy = first(self.tree, "version_policy")
        folders = sorted(folders)
        if policy is None:
            return folders[-1:]
        if first(policy, "all") is not None:
            return folders
        specific = first(policy, "specific")
        if specific is not None:
            wanted = {int(v) for v in all_of(specific, "versions")}
            return [v for v in folders if v in wanted]
        latest = first(policy, "latest")
        n = int(first(latest, "num_versions", "1")) if latest is not None else 1
        return folders[-n:]

    def python_standin(self):
        """This configuration served by the Python backend: the platform and backend, and what
        only onnxruntime reads, go; inputs, outputs, batching and version policy stay."""
        tree = Message([("backend", Text("python"))])
        for key, v in self.tree:
            if key in ("platform", "backend", "runtime", "default_model_filename", "optimization"):
                continue
            if key == "instance_group":
                groups = v if isinstance(v, List) else List([v])
                v = List(
                    Message((k, Word("KIND_CPU") if k == "kind" else x) for k, x in g if k != "gpus")
                    for g in groups
                )
            tree.insert(len(tree) if key != "name" else 0, (key, v))
        return dump_pbtxt(tree)


# --- The stand-in, written as model.py into each version folder ------------------------------

STANDIN = '''"""Written by scripts/check_triton.py: a stand-in for Triton's onnxruntime backend. It serves
this version's model.onnx with onnxruntime on the CPU through Triton's Python backend, under
the names, types and shapes of config.pbtxt. STRING tensors come as bytes and reach onnxruntime
as str; a STRING output goes back as bytes."""

import json
import os
import sys

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

ONNX_TYPES = %(types)r


def fits(onnx_shape, dims):
    """Whether an ONNX shape (a name or None for a free axis) is the configuration's dims with
    the batch axis in front."""
    return len(onnx_shape) == len(dims) + 1 and all(
        not isinstance(o, int) or d == -1 or o == d for o, d in zip(onnx_shape[1:], dims)
    )


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        declared = {
            section: [(t["name"], t["data_type"], [int(d) for d in t["dims"]]) for t in config[section]]
            for section in ("input", "output")
        }
        graph = {
            "input": {t.name: t for t in self.session.get_inputs()},
            "output": {t.name: t for t in self.session.get_outputs()},
        }
        # What Triton's onnxruntime backend checks when it loads a model.
        problems = []
        for section, tensors in declared.items():
            for name, dtype, dims in tensors:
                t = graph[section].get(name)
                if t is None:
                    problems.append(f"the configuration's {section} {name!r} is not in model.onnx")
                elif ONNX_TYPES.get(dtype) != t.type:
                    problems.append(f"{section} {name!r}: {dtype} in config.pbtxt, {t.type} in model.onnx")
                elif not fits(t.shape, dims):
                    problems.append(f"{section} {name!r}: config dims {dims}, model.onnx shape {t.shape}")
        undeclared = set(graph["input"]) - {name for name, _, _ in declared["input"]}
        if undeclared:
            problems.append(f"inputs of model.onnx missing from config.pbtxt: {sorted(undeclared)}")
        if problems:
            raise ValueError("; ".join(problems))
        self.inputs, self.outputs = declared["input"], declared["output"]
        print(
            f"kiln stand-in: {path} on onnxruntime {ort.__version__}, numpy {np.__version__}, "
            f"python {sys.version.split()[0]}",
            flush=True,
        )

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                feeds = {}
                for name, dtype, _ in self.inputs:
                    array = pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                    if dtype == "TYPE_STRING":
                        text = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.flat]
                        array = np.array(text, dtype=object).reshape(array.shape)
                    feeds[name] = array
                results = self.session.run([name for name, _, _ in self.outputs], feeds)
                tensors = []
                for (name, dtype, _), value in zip(self.outputs, results):
                    if dtype == "TYPE_STRING":
                        data = [str(v).encode("utf-8") for v in value.flat]
                        value = np.array(data, dtype=np.object_).reshape(value.shape)
                    tensors.append(pb_utils.Tensor(name, np.ascontiguousarray(value)))
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as e:  # a bad request fails alone, not the batch it came in
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(f"stand-in: {e}")))
        return responses
''' % {"types": TRITON_TO_ONNX}


# --- tritonserver from nvidia-pytriton --------------------------------------------------------


class Distribution:
    """Where nvidia-pytriton keeps tritonserver, its libraries and the Python backend, found
    as pytriton finds them (pytriton/utils/distribution.py, pytriton/triton.py)."""

    def __init__(self):
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise CheckFailed("nvidia-pytriton is not installed in this Python: run scripts/check-triton.sh")
        package = Path(list(spec.submodule_search_locations)[0])
        root = package / "tritonserver"
        self.binary = root / "bin" / "tritonserver"
        # The wheel keeps the libraries beside the package, an editable install inside it.
        self.libs = package.parent / "nvidia_pytriton.libs"
        if not self.libs.is_dir():
            self.libs = root / "external_libs"
        self.python_backend = root / "backends" / "python"
        self.caches = root / "caches"
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        self.stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
        for path in (self.binary, self.libs, self.python_backend / "libtriton_python.so", self.stub):
            if not path.exists():
                raise CheckFailed(f"nvidia-pytriton lacks {path} (this is Python {version})")

    def backends(self, folder):
        """A backend directory with the Python backend alone, and the stub for this Python where
        the backend looks for it (pytriton copies it there). The wheel has no onnxruntime
        backend."""
        python = folder / "python"
        python.mkdir(parents=True)
        for item in self.python_backend.iterdir():
            if item.is_file():
                (python / item.name).symlink_to(item)
        (python / "triton_python_backend_stub").symlink_to(self.stub)
        return folder

    def environment(self):
        env = dict(os.environ)
        libs = [str(self.libs)]
        # The stub embeds libpython3.X: this Python's own, where it has one, so that the
        # packages of this environment run on the interpreter they were installed for.
        libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
        if libdir and soname and (Path(libdir) / soname).exists():
            libs.insert(0, libdir)
        if env.get("LD_LIBRARY_PATH"):
            libs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = ":".join(libs)
        # As pytriton does: the stub's interpreter finds `python3` on PATH, and with it this
        # virtual environment's site-packages (numpy, onnxruntime). PYTHONPATH does not reach it.
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env.pop("PYTHONHOME", None)
        return env


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(pid):
    """The (address, port) pairs process `pid` listens on, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = cols[1].split(":")
            raw = bytes.fromhex(address)
            # The kernel writes each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, raw), int(port, 16)))
    return sorted(found)


RUNNING = []


def stop_all():
    for server in list(RUNNING):
        server.stop()


class Server:
    """One tritonserver on 127.0.0.1, HTTP only, its log in a file."""

    def __init__(self, dist, backends, repository, log, label):
        self.dist, self.label, self.log = dist, label, log
        # The Python backend's shared-memory regions in /dev/shm, named so that they can be told
        # from any other server's, and removed should the server die without doing so.
        self.shm_prefix = f"kiln-check-{os.getpid()}-{label}-"
        self.url = f"127.0.0.1:{free_port()}"
        host, port = self.url.split(":")
        self.args = [
            str(dist.binary),
            f"--model-repository={repository}",
            f"--backend-directory={backends}",
            f"--cache-directory={dist.caches}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            f"--http-address={host}",
            f"--http-port={port}",
            "--allow-grpc=false",
            "--allow-metrics=false",
            "--allow-sagemaker=false",
            "--allow-vertex-ai=false",
            # Serve, and answer, although a model fails to load: phase 1 expects it to.
            "--strict-readiness=false",
            "--exit-on-error=false",
            "--exit-timeout-secs=5",
            "--log-verbose=0",
        ]
        self.process = None

    def start(self, timeout):
        """Starts the server and waits until it is live; returns the seconds that took."""
        step(f"  starting tritonserver ({self.label}) on http://{self.url}, log {self.log}")
        started = time.monotonic()
        with open(self.log, "wb") as out:
            # A session of its own, so that the Python backend's stubs go with the server.
            self.process = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.dist.environment(),
                start_new_session=True,
            )
        RUNNING.append(self)
        while time.monotonic() < started + timeout:
            if self.process.poll() is not None:
                raise CheckFailed(
                    f"tritonserver ({self.label}) exited with {self.process.returncode} before it was "
                    f"live\n{self.tail()}"
                )
            if self.request("GET", "/v2/health/live")[0] == 200:
                seconds = time.monotonic() - started
                sockets = listening(self.process.pid)
                outside = [s for s in sockets if s[0] != "127.0.0.1"]
                if outside:
                    raise CheckFailed(f"tritonserver ({self.label}) listens beyond 127.0.0.1: {outside}")
                step(f"  live after {seconds:.2f} s, listening on {sockets} only")
                return seconds
            time.sleep(0.1)
        raise CheckFailed(f"tritonserver ({self.label}) was not live within {timeout:g} s\n{self.tail()}")

    def request(self, method, path, body=None, timeout=5):
        req = urllib.request.Request(f"http://{self.url}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return None, b""

    def index(self, model):
        """The repository index's entries for `model`: one per version it tried to load."""
        status, body = self.request("POST", "/v2/repository/index", body=b"{}", timeout=10)
        if status != 200:
            raise CheckFailed(f"POST /v2/repository/index answered {status}: {body[:300]!r}\n{self.tail()}")
        return [e for e in json.loads(body) if e.get("name") == model]

    def wait_ready(self, model, versions, timeout):
        """Waits until each version is ready; returns the seconds that took."""
        started = time.monotonic()
        waiting = list(versions)
        while True:
            if self.process.poll() is not None:
                raise CheckFailed(
                    f"tritonserver ({self.label}) exited with {self.process.returncode}\n{self.tail()}"
                )
            path = f"/v2/models/{model}/versions/{{}}/ready"
            waiting = [v for v in waiting if self.request("GET", path.format(v))[0] != 200]
            if not waiting:
                return time.monotonic() - started
            # A version that failed to load will not become ready: say why at once.
            failed = [
                e
                for e in self.index(model)
                if e.get("version") in map(str, waiting)
                and e.get("state") == "UNAVAILABLE"
                and e.get("reason")
            ]
            if failed:
                reasons = "\n".join(f"  version {e['version']}: {e['reason']}" for e in failed)
                raise CheckFailed(f"{model} failed to load in the stand-in:\n{reasons}\n{self.tail()}")
            if time.monotonic() > started + timeout:
                raise CheckFailed(
                    f"{model} versions {waiting} were not ready within {timeout:g} s; the repository "
                    f"index says {json.dumps(self.index(model))}\n{self.tail()}"
                )
            time.sleep(0.2)

    def log_lines(self):
        try:
            return self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def tail(self, count=40):
        # The summary tables (+---, |) repeat what the lines above them say.
        lines = [line for line in self.log_lines() if line.strip() and not line.startswith(("+", "|"))]
        return f"--- the last lines of {self.log} ---\n" + "\n".join(lines[-count:])

    def stop(self):
        """SIGTERM, a bounded wait, then SIGKILL to whatever is left of the server's session."""
        if self.process is None:
            return
        # A second Ctrl-C or SIGTERM takes effect once the server is down.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        try:
            process, self.process = self.process, None
            RUNNING.remove(self)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    step(f"  tritonserver ({self.label}) was still running 15 s after SIGTERM: killing it")
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for region in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
                region.unlink(missing_ok=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


# --- ROWS.csv and PREDICTIONS.csv --------------------------------------------------------------


def read_csv(path):
    """The header and rows of a CSV, its delimiter sniffed among those Kiln reads."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        first_line = f.readline()
        f.seek(0)
        try:
            delimiter = csv.Sniffer().sniff(first_line or ",", delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows:
        raise CheckFailed(f"{path} is empty")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    for i, row in enumerate(body, 1):
        if len(row) != len(header):
            raise CheckFailed(f"{path}: data row {i} has {len(row)} cells, the header {len(header)}")
    return header, body


def parse_number(cell):
    """A cell as Kiln reads a number (kiln-core data::infer::parse_number): finite, or None."""
    try:
        value = float(cell.strip()) if "_" not in cell else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


class Predictions:
    """`kiln predict` output: line, prediction, p_<class>..., error; one row per input row."""

    def __init__(self, path, rows):
        header, body = read_csv(path)
        classes = header[2:-1]
        if header[:2] != ["line", "prediction"] or header[-1:] != ["error"] or not classes:
            raise CheckFailed(f"{path}: the header {header} is not kiln predict's")
        if not all(h.startswith("p_") for h in classes):
            raise CheckFailed(f"{path}: the header {header} is not kiln predict's")
        if len(body) != rows:
            raise CheckFailed(
                f"{path} has {len(body)} rows, the rows file {rows}: they must be the same rows"
            )
        self.path = path
        self.classes = [h[2:] for h in classes]
        self.lines = [r[0] for r in body]
        self.labels = [r[1] for r in body]
        # A row with an error was not scored.
        self.scored = [i for i, r in enumerate(body) if not r[-1]]
        self.probs = np.full((len(body), len(classes)), np.nan)
        for i in self.scored:
            try:
                self.probs[i] = [float(v) for v in body[i][2:-1]]
            except ValueError:
                raise CheckFailed(f"{path} line {self.lines[i]}: a probability is not a number") from None


def column_inputs(config, header, rows):
    """Each model input's values over every row, from the CSV column of its name; None for a
    number that does not parse."""
    values = {}
    for t in config.inputs:
        if t["name"] not in header:
            raise CheckFailed(f"the model's input {t['name']!r} is no column of the rows file ({header})")
        if t["dims"] != [1]:
            raise CheckFailed(f"input {t['name']!r} has dims {t['dims']}; a column's input has dims [ 1 ]")
        cells = [r[header.index(t["name"])] for r in rows]
        if t["type"] == "TYPE_FP32":
            values[t["name"]] = [math.nan if c.strip() in MISSING else parse_number(c) for c in cells]
        elif t["type"] == "TYPE_STRING":
            values[t["name"]] = ["" if c.strip() in MISSING else c for c in cells]
        else:
            raise CheckFailed(f"input {t['name']!r} is {t['type']}; a column's is TYPE_FP32 or TYPE_STRING")
    return values


def feeds_for(config, values, indices):
    """The input arrays for these rows: FP32 as float32 [n, 1], STRING as str [n, 1]."""
    feeds = {}
    for t in config.inputs:
        column = [values[t["name"]][i] for i in indices]
        dtype = np.float32 if t["type"] == "TYPE_FP32" else object
        feeds[t["name"]] = np.array(column, dtype=dtype).reshape(-1, 1)
    return feeds


# --- Inference: through the server, and in onnxruntime directly ------------------------------


def infer_served(client, config, model, version, feeds):
    import tritonclient.http as httpclient

    inputs = []
    for t in config.inputs:
        array = feeds[t["name"]]
        if t["type"] == "TYPE_STRING":
            data = [str(v).encode("utf-8") for v in array.flat]
            array = np.array(data, dtype=np.object_).reshape(array.shape)
            wire = "BYTES"
        elif t["type"] == "TYPE_FP32":
            wire = "FP32"
        else:
            raise CheckFailed(f"input {t['name']!r}: the check sends no {t['type']}")
        tensor = httpclient.InferInput(t["name"], list(array.shape), wire)
        tensor.set_data_from_numpy(array, binary_data=True)
        inputs.append(tensor)
    outputs = [httpclient.InferRequestedOutput(t["name"], binary_data=True) for t in config.outputs]
    result = client.infer(model, inputs, model_version=str(version), outputs=outputs, timeout=60)
    served = {}
    for t in config.outputs:
        served[t["name"]] = result.as_numpy(t["name"])
        if served[t["name"]] is None:
            raise CheckFailed(f"version {version}: the response lacks the output {t['name']!r}")
    return served


def infer_direct(session, config, feeds):
    names = [t["name"] for t in config.outputs]
    return dict(zip(names, session.run(names, feeds), strict=True))


class Tally:
    """One way of scoring one version: rows checked, the largest probability difference, and
    what did not match."""

    def __init__(self, version, how, not_scored):
        self.version, self.how, self.not_scored = version, how, not_scored
        self.rows = self.requests = self.label_mismatches = 0
        self.max_diff = 0.0
        self.failures = []

    def fail(self, what):
        self.failures.append(f"version {self.version}, {self.how}: {what}")

    def compare(self, outputs, expected, indices, class_order):
        n = len(indices)
        self.rows += n
        self.requests += 1
        if "probabilities" in outputs:
            probs = np.asarray(outputs["probabilities"], dtype=np.float64).reshape(n, -1)
            if probs.shape[1] != len(class_order):
                self.fail(f"{probs.shape[1]} probabilities a row, for {len(class_order)} classes")
                return
            want = expected.probs[indices][:, class_order]
            diff = np.where(np.isnan(probs), np.inf, np.abs(probs - want))
            self.max_diff = max(self.max_diff, float(diff.max()))
            for r, i in enumerate(indices):
                if diff[r].max() > PROB_TOL:
                    self.fail(
                        f"line {expected.lines[i]}: probabilities {np.round(probs[r], 6).tolist()}, "
                        f"kiln predict {want[r].tolist()} (|difference| up to {diff[r].max():.3g})"
                    )
        if "label" in outputs:
            got = [
                v.decode("utf-8") if isinstance(v, bytes) else str(v)
                for v in np.asarray(outputs["label"]).flat
            ]
            if len(got) != n:
                self.fail(f"{len(got)} labels for {n} rows")
                return
            for label, i in zip(got, indices, strict=True):
                if label != expected.labels[i]:
                    self.label_mismatches += 1
                    self.fail(
                        f"line {expected.lines[i]}: label {label!r}, kiln predict {expected.labels[i]!r}"
                    )

    def summary(self):
        return (
            f"  version {self.version:<3} {self.how:<22} {self.rows:>5} rows, {self.requests:>4} requests  "
            f"max |difference| {self.max_diff:.1e}  label mismatches {self.label_mismatches}  "
            f"not scored {self.not_scored}"
        )


# --- The check -------------------------------------------------------------------------------


class Check:
    """The repository, the rows and the expected predictions, and the two phases run on them."""

    def __init__(self, args):
        self.repo = Path(args.repo).resolve()
        self.model = args.model
        self.rows_path = Path(args.rows)
        self.timeout = args.timeout
        self.single_rows = args.single_rows
        self.allow_features = args.allow_features
        self.require_all_scored = args.require_all_scored
        config_path = self.repo / self.model / "config.pbtxt"
        if not config_path.is_file():
            raise CheckFailed(f"{config_path} does not exist: --repo is the repository, --model its folder")
        if not self.rows_path.is_file():
            raise CheckFailed(f"--rows {self.rows_path} is not a file")
        self.expected = parse_expected(args.expected)
        self.config = ModelConfig(config_path)
        inputs = self.config.inputs
        self.features_form = (
            len(inputs) == 1 and inputs[0]["name"] == "features" and inputs[0]["dims"] != [1]
        )
        if self.features_form and not self.allow_features:
            raise CheckFailed(
                f"{config_path}: the repository has the features form (one input `features` fed by "
                "pipeline.json), not one input per column; export the servable model with "
                "`kiln export ... --input raw` (kiln export printed why it did not, after "
                "'not the raw-rows form:'), or pass --allow-features to serve it with random "
                "features only"
            )
        folder = self.repo / self.model
        folders = [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        self.served = self.config.served_versions(folders)
        step(
            f"repository {self.repo}, model {self.model}: version folders {sorted(folders)}, the "
            f"version policy serves {self.served}, max_batch_size {self.config.max_batch_size}\n"
            f"  inputs:  {self.config.describe(self.config.inputs)}\n"
            f"  outputs: {self.config.describe(self.config.outputs)}"
        )
        unserved = sorted(set(self.expected) - set(self.served))
        if unserved:
            raise CheckFailed(
                f"--expected names versions {unserved}, which the version policy of {config_path} "
                f"does not serve (it serves {self.served})"
            )
        labels = folder / "labels.txt"
        self.labels = [s for s in labels.read_text().splitlines() if s.strip()] if labels.exists() else []
        self.dist = Distribution()
        step(
            f"tritonserver {self.dist.binary}\n  libraries {self.dist.libs}\n"
            f"  Python backend stub {self.dist.stub}"
        )

    def run(self, work):
        """Both phases; returns the verdict, or raises CheckFailed."""
        self.work = work
        self.backends = self.dist.backends(work / "backends")
        self.phase_exported()
        tallies = self.phase_standin()
        if tallies is None:
            return "OK: Triton serves the stand-in; the comparison with kiln predict was SKIPPED (features form)"
        step("summary:")
        for t in tallies:
            step(t.summary())
        failures = [f for t in tallies for f in t.failures]
        for f in failures[:30]:
            step(f"FAIL {f}")
        if len(failures) > 30:
            step(f"... and {len(failures) - 30} more")
        if failures:
            raise CheckFailed(f"{len(failures)} differences between Triton and kiln predict")
        return f"OK: Triton serves what kiln predict scores, {sum(t.rows for t in tallies)} rows checked"

    def phase_exported(self):
        step("phase 1: the repository as exported")
        server = Server(self.dist, self.backends, self.repo, self.work / "phase1-exported.log", "exported")
        try:
            seconds = server.start(self.timeout)
            # The server is live once it has tried every model: the index is final.
            entries = server.index(self.model)
            log = server.log_lines()
        finally:
            server.stop()
        step(f"  repository index: {json.dumps(entries)}")
        if not entries:
            raise CheckFailed(f"the repository index has no model {self.model!r}\n{server.tail()}")
        if any("version" not in e for e in entries):
            # An entry without versions: the configuration could not be read.
            said = [s for s in log if "config.pbtxt" in s or "libprotobuf" in s]
            raise CheckFailed(
                f"Triton cannot read {self.config.path}:\n" + "\n".join(said or [server.tail()])
            )
        versions = sorted(int(e["version"]) for e in entries)
        if versions != self.served:
            raise CheckFailed(
                f"Triton's version policy picks versions {versions}, this check read {self.served} in "
                f"{self.config.path}"
            )
        others = [e for e in entries if ORT_MISSING not in e.get("reason", "")]
        if others:
            raise CheckFailed(f"besides the missing onnxruntime backend, Triton says {json.dumps(others)}")
        # Any other error or warning about the model in the log is a complaint too.
        name = re.escape(self.model)
        about = re.compile(rf"'{name}'|\b{name}:\d|/{name}/")
        summary = re.compile(rf"failed to load '{name}'\"?$")
        complaints = [
            s
            for s in log
            if "libprotobuf" in s
            or (s[:1] in "EW" and about.search(s) and ORT_MISSING not in s and not summary.search(s))
        ]
        if complaints:
            raise CheckFailed(
                "the server log has other complaints about the model:\n" + "\n".join(complaints)
            )
        step(f"  live in {seconds:.2f} s; config.pbtxt accepted; versions {versions} fail for this only:")
        for s in log:
            if ORT_MISSING in s and s.startswith("E"):
                step(f"    {s}")

    def make_standin(self):
        copy = self.work / "standin"
        shutil.copytree(self.repo / self.model, copy / self.model)
        (copy / self.model / "config.pbtxt").write_text(self.config.python_standin())
        for v in self.served:
            folder = copy / self.model / str(v)
            if not (folder / "model.onnx").is_file():
                raise CheckFailed(f"{self.repo / self.model / str(v)} has no model.onnx")
            (folder / "model.py").write_text(STANDIN)
        return copy

    def phase_standin(self):
        """Serves the stand-in and compares; returns the tallies, or None for the features form."""
        step("phase 2: the stand-in (the Python backend running each version's model.onnx in onnxruntime)")
        import tritonclient.http as httpclient

        copy = self.make_standin()
        step(f"  copied to {copy}, with this config.pbtxt:")
        for line in (copy / self.model / "config.pbtxt").read_text().splitlines():
            step(f"    {line}")
        server = Server(self.dist, self.backends, copy, self.work / "phase2-standin.log", "stand-in")
        try:
            live = server.start(self.timeout)
            versions = sorted(self.expected)
            ready = server.wait_ready(self.model, versions, self.timeout)
            step(f"  versions {versions} ready {live + ready:.2f} s after the start")
            for line in server.log_lines():
                if line.startswith("kiln stand-in:"):
                    step(f"    {line}")
            client = httpclient.InferenceServerClient(
                url=server.url, connection_timeout=10, network_timeout=60
            )
            try:
                if self.features_form:
                    self.probe_features(client)
                    step(
                        "  SKIPPED: the comparison with kiln predict: this repository has the features "
                        "form, one input `features` fed by pipeline.json, not one input per column"
                    )
                    return None
                if not {"label", "probabilities"} & {t["name"] for t in self.config.outputs}:
                    raise CheckFailed(
                        "the model has neither a `label` nor a `probabilities` output to compare"
                    )
                header, body = read_csv(self.rows_path)
                values = column_inputs(self.config, header, body)
                tallies = []
                for version in versions:
                    tallies += self.compare_version(client, version, header, body, values)
                return tallies
            finally:
                client.close()
        finally:
            server.stop()

    def session(self, version):
        import onnxruntime as ort

        path = self.repo / self.model / str(version) / "model.onnx"
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def probe_features(self, client):
        """The older form: random features, through the server and through onnxruntime alike."""
        width = self.config.inputs[0]["dims"][0]
        x = np.random.default_rng(7).normal(size=(2 * BATCH, width)).astype(np.float32)
        for version in sorted(self.expected):
            direct = infer_direct(self.session(version), self.config, {"features": x})
            worst = 0.0
            for size in (1, min(BATCH, self.config.max_batch_size)):
                for start in range(0, len(x), size):
                    feeds = {"features": x[start : start + size]}
                    served = infer_served(client, self.config, self.model, version, feeds)
                    for name, value in served.items():
                        a = np.asarray(value, dtype=np.float64)
                        b = np.asarray(direct[name][start : start + size], dtype=np.float64)
                        if a.shape != b.shape:
                            raise CheckFailed(
                                f"version {version}: {name} is {a.shape} served, {b.shape} direct"
                            )
                        worst = max(worst, float(np.abs(a - b).max()))
            if worst > SAME_TOL:
                raise CheckFailed(f"version {version}: served and direct outputs differ by {worst:.3g}")
            sums = ""
            if "probabilities" in direct:
                off = np.abs(direct["probabilities"].sum(axis=1) - 1).max()
                sums = f"; each row of probabilities sums to 1 within {off:.1e}"
            step(
                f"  version {version}: {len(x)} rows of {width} random features, at batch sizes 1 and "
                f"{BATCH}: served = onnxruntime within {worst:.1e}{sums}"
            )

    def compare_version(self, client, version, header, body, values):
        expected = Predictions(self.expected[version], len(body))
        scored = expected.scored
        not_scored = len(body) - len(scored)
        if not scored:
            raise CheckFailed(
                f"version {version}: kiln predict scored none of the {len(body)} rows "
                f"({expected.path}): there is nothing to compare"
            )
        if not_scored and self.require_all_scored:
            skipped = sorted(set(range(len(body))) - set(scored))
            lines = ", ".join(str(expected.lines[i]) for i in skipped[:10])
            raise CheckFailed(
                f"version {version}: kiln predict did not score {not_scored} of the {len(body)} "
                f"rows ({expected.path}, lines {lines}); every row is expected here"
            )
        step(
            f"  version {version}: {expected.path}: {len(scored)} rows scored by kiln predict, "
            f"{not_scored} not (skipped)"
        )
        if self.labels and sorted(self.labels) != sorted(expected.classes):
            raise CheckFailed(f"{expected.path}: classes {expected.classes}, labels.txt {self.labels}")
        # The model's probabilities follow labels.txt; the CSV's columns might not.
        class_order = [expected.classes.index(c) for c in self.labels or expected.classes]
        unreadable = [
            f"line {expected.lines[i]}: {name} = {body[i][header.index(name)]!r}"
            for name, column in values.items()
            for i in scored
            if column[i] is None
        ]
        if unreadable:
            raise CheckFailed(
                f"version {version}: kiln predict scored rows whose numbers do not parse: "
                + "; ".join(unreadable[:10])
            )
        single = Tally(version, "served, batch 1", not_scored)
        for i in scored[: self.single_rows or None]:
            feeds = feeds_for(self.config, values, [i])
            single.compare(
                infer_served(client, self.config, self.model, version, feeds), expected, [i], class_order
            )
        size = min(BATCH, self.config.max_batch_size)
        batched = Tally(version, f"served, batch {size}", not_scored)
        for start in range(0, len(scored), size):
            chunk = scored[start : start + size]
            feeds = feeds_for(self.config, values, chunk)
            batched.compare(
                infer_served(client, self.config, self.model, version, feeds), expected, chunk, class_order
            )
        direct = Tally(version, "onnxruntime, one batch", not_scored)
        if scored:
            outputs = infer_direct(self.session(version), self.config, feeds_for(self.config, values, scored))
            direct.compare(outputs, expected, scored, class_order)
        return [single, batched, direct]


def parse_expected(values):
    expected = {}
    for v in values:
        version, sep, path = v.partition("=")
        if not sep or not version.strip().isdigit() or not path:
            raise CheckFailed(f"--expected {v!r}: write VERSION=PREDICTIONS.csv, as in 2=predictions-2.csv")
        if int(version) in expected:
            raise CheckFailed(f"--expected names version {int(version)} twice")
        if not Path(path).is_file():
            raise CheckFailed(f"--expected {v!r}: {path} is not a file")
        expected[int(version)] = Path(path)
    return expected


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", required=True, help="the Triton model repository Kiln exported")
    parser.add_argument("--model", required=True, help="the model's folder in it")
    parser.add_argument("--rows", required=True, help="the CSV that kiln predict scored")
    parser.add_argument(
        "--expected",
        action="append",
        required=True,
        metavar="VERSION=PREDICTIONS.csv",
        help="kiln predict's output for that Triton version; once for each version to check",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120,
        help="seconds to wait for a server to be live, and again for the versions to be ready (120)",
    )
    parser.add_argument(
        "--single-rows", type=int, default=0, help="send only the first N rows at batch size 1 (all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the server logs and the stand-in")
    parser.add_argument(
        "--require-all-scored",
        action="store_true",
        help="fail when kiln predict did not score a row (rather than skip it)",
    )
    parser.add_argument(
        "--allow-features",
        action="store_true",
        help="accept a features-form repository (served with random features, not compared)",
    )
    args = parser.parse_args()

    # SIGTERM and SIGHUP unwind like Ctrl-C, through the finally blocks that stop the servers;
    # Ctrl-C is caught even where the shell started the check with SIGINT ignored.
    def interrupted(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    atexit.register(stop_all)

    started = time.monotonic()
    work = None
    ok = False
    try:
        check = Check(args)
        work = Path(tempfile.mkdtemp(prefix="kiln-triton-"))
        verdict = check.run(work)
        ok = True
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()
        if work is not None:
            if ok and not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            else:
                step(f"the server logs and the stand-in are kept in {work}")
    step(f"{verdict} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
