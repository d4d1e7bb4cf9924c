"""The served UI under load: N concurrent browser-like clients × M text queries.

Prints one JSON object: start-up time, first-query latency, then latency percentiles
(p50/p95/p99 ms), errors and throughput of the load phase, and the server's resident memory
(now and peak) and CPU seconds. Everything runs on 127.0.0.1 and every loop is bounded.

What it does, with the real commands:
1. writes `--tracks` synthetic clips and a catalog (tags from the shipped model's
   vocabulary) into `--workdir` (kept between runs: the clips and index are reused);
2. indexes them with `python -m ui.cli index … --qdrant WORKDIR/qdrant --collection load`
   (this checkout's code, the shipped model);
3. starts `python -m ui.cli ui --qdrant WORKDIR/qdrant --collection load --port P` from
   `--code` (default: this checkout; point it at another checkout, e.g. an unmodified one,
   to compare before/after in the same session), waits until it answers;
4. sends one query (first-query latency), then runs the load: each client (one keep-alive
   connection, like a browser tab) submits its queries one after another, as the page
   does for the Search button. A page with the app's `search` route (ui/search_route.py)
   sends `GET search?q=…&k=10`; an older page triggers the Gradio event found in
   `/config`: queued, `POST gradio_api/queue/join` and the result from the
   `gradio_api/queue/data` event stream; outside the queue, `POST gradio_api/run/predict`.
   A query counts as an error unless its result has cards.

    python benchmarks/ui_load.py [--clients 50] [--queries 20] [--code DIR] [--workdir DIR]
                                 [--profile FILE]   # py-spy on the server during the load
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import brotli
import httpx
import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
COLLECTION = "load"
SAMPLE_RATE = 16000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_corpus(folder: Path, n_tracks: int, seed: int) -> Path:
    """`n_tracks` 8-second synthetic clips + catalog.jsonl (reused when already there)."""
    catalog = folder / "catalog.jsonl"
    if catalog.is_file() and sum(1 for _ in catalog.open()) == n_tracks:
        return catalog
    tags = json.loads((REPO / "retrieval/default_model/config.json").read_text())["model"]["tags"]
    rng = np.random.default_rng(seed)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n_tracks):
        t = np.arange(8 * SAMPLE_RATE) / SAMPLE_RATE
        freq = 110.0 * 2 ** rng.uniform(0, 4)
        wave = np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 6) * t))
        wave = 0.3 * wave + 0.03 * rng.standard_normal(t.size)
        path = folder / "audio" / f"clip{i:04d}.wav"
        soundfile.write(path, wave.astype(np.float32), SAMPLE_RATE)
        lines.append(json.dumps({"track_id": f"load-{i}", "path": f"audio/{path.name}",
                                 "title": f"Clip {i}", "artist": f"Artist {i % 17}",
                                 "album": "Load", "duration": 8.0,
                                 "tags": sorted(rng.choice(tags, 3, replace=False).tolist()),
                                 "split": "test"}))
    catalog.write_text("\n".join(lines) + "\n")
    return catalog


def queries_from_tags(n: int, seed: int) -> list[str]:
    """Distinct-ish two- and three-tag queries from the shipped model's vocabulary."""
    tags = json.loads((REPO / "retrieval/default_model/config.json").read_text())["model"]["tags"]
    rng = random.Random(seed)
    return [" ".join(rng.sample(tags, rng.choice((2, 3)))) for _ in range(n)]


def proc_status(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)       # kB → MiB
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    fields["cpu_s"] = round((int(stat[11]) + int(stat[12])) / ticks, 2)  # utime + stime
    return fields


class Connection:
    """One keep-alive HTTP/1.1 connection, as a browser tab holds: a few hundred lines of
    httpx cost more CPU per request than the server's own work, and the load generator
    shares the machine with the server, so it is kept this lean."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def _send(self, method: str, path: str, body: bytes | None,
                    compressed: bool = True) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                "Accept: */*", "Connection: keep-alive"]
        if compressed:     # as browsers ask, so the server compresses as it would for them
            head.append("Accept-Encoding: gzip, deflate, br")
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()

    async def _head(self) -> tuple[int, dict]:
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        return status, headers

    async def _chunks(self, headers: dict):
        if headers.get("transfer-encoding") == "chunked":
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                yield await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        else:
            yield await self.reader.readexactly(int(headers.get("content-length", 0)))

    async def request(self, method: str, path: str, payload: dict | None = None) -> dict:
        await self._send(method, path, None if payload is None else json.dumps(payload).encode())
        status, headers = await self._head()
        body = b"".join([chunk async for chunk in self._chunks(headers)])
        encoding = headers.get("content-encoding")
        if encoding == "br":
            body = brotli.decompress(body)
        elif encoding == "gzip":
            body = gzip.decompress(body)
        if status != 200:
            raise RuntimeError(f"HTTP {status} for {path}: {body[:160]!r}")
        return body

    async def events(self, path: str):
        """The `data:` messages of a server-sent event stream; the caller closes."""
        await self._send("GET", path, None, compressed=False)
        status, headers = await self._head()
        if status != 200:
            raise RuntimeError(f"HTTP {status} for {path}")
        pending = b""
        async for chunk in self._chunks(headers):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.startswith(b"data:"):
                    yield json.loads(line[5:])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class PageClient:
    """What the page's JavaScript client does for one click on Search."""

    def __init__(self, base: str, config: dict, route: bool):
        url = httpx.URL(base)
        self.route = route
        self.host, self.port, self.prefix = url.host, url.port, url.path
        self.connection = Connection(self.host, self.port)
        components = {c["id"]: c for c in config["components"]}
        button = next(c["id"] for c in config["components"]
                      if c.get("props", {}).get("elem_id") == "ms-search")
        self.fn_index, self.dependency = next(
            (i, d) for i, d in enumerate(config["dependencies"])
            if any(t[0] == button and t[1] == "click" for t in d["targets"]))
        self.input_types = [components[i]["type"] for i in self.dependency["inputs"]]
        queue = self.dependency.get("queue")
        self.queued = config.get("enable_queue", True) if queue is None else bool(queue)
        self.api_name = self.dependency.get("api_name")
        self.session = uuid.uuid4().hex[:11]

    def payload(self, text: str) -> dict:
        values = {"textbox": text, "audio": None, "slider": 10}
        return {"data": [values.get(t) for t in self.input_types], "event_data": None,
                "fn_index": self.fn_index, "trigger_id": self.dependency["targets"][0][0],
                "session_hash": self.session}

    @property
    def path(self) -> str:
        if self.route:
            return "GET search (the page's script)"
        return f"{'queued' if self.queued else 'direct'} Gradio event {self.api_name}"

    async def search(self, text: str) -> list:
        if self.route:   # what the page's script does for a text search (ui/format.py)
            html = await self.connection.request(
                "GET", f"{self.prefix}search?{urlencode({'q': text, 'k': 10})}")
            return [html.decode()]
        if not self.queued:
            reply = await self.connection.request(
                "POST", f"{self.prefix}gradio_api/run/predict", self.payload(text))   # as the page posts it
            return json.loads(reply)["data"]
        joined = json.loads(await self.connection.request(
            "POST", f"{self.prefix}gradio_api/queue/join", self.payload(text)))
        stream = Connection(self.host, self.port)    # the page's EventSource
        try:
            async for message in stream.events(
                    f"{self.prefix}gradio_api/queue/data?session_hash={self.session}"):
                if (message.get("event_id") == joined["event_id"]
                        and message.get("msg") == "process_completed"):
                    if not message.get("success"):
                        raise RuntimeError(str(message.get("output"))[:200])
                    return message["output"]["data"]
        finally:
            stream.close()
        raise RuntimeError("the event stream ended without a result")


async def one_query(client: PageClient, text: str, timeout: float) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        data = await asyncio.wait_for(client.search(text), timeout)
        error = None if any("ms-card" in str(d) for d in data) else f"no cards: {str(data)[:160]}"
    except Exception as exc:  # every failure is counted, none stops the run
        error = f"{type(exc).__name__}: {exc}"[:200]
        client.connection.close()         # a broken connection is not reused
    return time.perf_counter() - started, error


async def load(base: str, clients: int, per_client: int, queries: list[str],
               timeout: float) -> dict:
    async with httpx.AsyncClient(timeout=timeout) as http:
        config = (await http.get(f"{base}config")).json()
        # The page sends text searches to the app's `search` route when it has one.
        route = (await http.get(f"{base}search", params={"q": ""})).status_code == 200
    first_client = PageClient(base, config, route)
    first_s, first_error = await one_query(first_client, queries[0], timeout)
    first_client.connection.close()

    async def run_client(number: int) -> list[tuple[float, str | None]]:
        client = PageClient(base, config, route)
        try:
            return [await one_query(client, queries[(number * per_client + j) % len(queries)],
                                    timeout) for j in range(per_client)]
        finally:
            client.connection.close()

    started, cpu = time.perf_counter(), time.process_time()
    results = [r for rs in await asyncio.gather(*(run_client(i) for i in range(clients)))
               for r in rs]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    times = np.array([t for t, _ in results]) * 1000
    errors = [e for _, e in results if e]
    return {"path": first_client.path,
            "first_query_ms": round(first_s * 1000, 1), "first_query_error": first_error,
            "clients": clients, "queries_per_client": per_client, "requests": len(results),
            "errors": len(errors), "error_examples": sorted(set(errors))[:3],
            "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
            "p99_ms": round(float(np.percentile(times, 99)), 1),
            "max_ms": round(float(times.max()), 1),
            "throughput_qps": round(len(results) / wall, 1), "wall_s": round(wall, 2),
            "client_cpu_s": round(cpu, 2)}


def profile_summary(path: Path, top: int = 15) -> dict:
    """Collapsed py-spy stacks (samples of whichever thread holds the GIL: the server's
    Python work is serialised on it) → the share of samples under each of the top frames
    (inclusive) and whose innermost frame is in each file (self)."""
    inclusive, own, total = {}, {}, 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        module = frames[-1].split("(", 1)[-1].split(":")[0].rstrip(")")
        own[module] = own.get(module, 0) + int(count)

    def share(counts: dict) -> dict:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return {key: round(value / max(total, 1), 3) for key, value in ranked}

    return {"samples": total, "inclusive": share(inclusive), "self_by_file": share(own)}


def wait_until_up(base: str, server: subprocess.Popen, limit_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(base, timeout=1.0).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {limit_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--queries", type=int, default=20, help="queries per client")
    parser.add_argument("--tracks", type=int, default=200, help="synthetic clips indexed")
    parser.add_argument("--distinct", type=int, default=500, help="distinct query texts")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="checkout whose `python -m ui.cli ui` is served (default: this one)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "musicsearch-ui-load")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-query limit (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="record the server with py-spy during the load (collapsed stacks "
                             "to FILE) and report the functions with the most samples")
    parser.add_argument("--py-spy", default="py-spy", help="py-spy executable for --profile")
    args = parser.parse_args()
    if not (1 <= args.clients <= 500 and 1 <= args.queries <= 1000):
        parser.error("--clients must be 1..500 and --queries 1..1000")

    workdir = args.workdir.resolve()
    env = dict(os.environ, MUSICSEARCH_HOME=str(workdir / "home"), GRADIO_ANALYTICS_ENABLED="False")
    catalog = write_corpus(workdir / "corpus", args.tracks, args.seed)
    location = ["--qdrant", str(workdir / "qdrant"), "--collection", COLLECTION]
    subprocess.run([sys.executable, "-m", "ui.cli", "index", str(catalog), *location],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)

    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "ui.cli", "ui", "--port", str(port), *location]
    started = time.time()
    server = subprocess.Popen(command, cwd=args.code, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        up_s = wait_until_up(base, server, 300)
        idle = proc_status(server.pid)
        profiler = None
        if args.profile:
            profiler = subprocess.Popen(
                [args.py_spy, "record", "--pid", str(server.pid), "--format", "raw",
                 "--output", str(args.profile), "--rate", "250", "--gil"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)     # let it attach
        report = asyncio.run(load(base, args.clients, args.queries,
                                  queries_from_tags(args.distinct, args.seed), args.timeout))
        after = proc_status(server.pid)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
            report["profile"] = profile_summary(args.profile)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(json.dumps({
        "command": " ".join(["python"] + sys.argv), "server": " ".join(["python"] + command[1:]),
        "code": str(args.code.resolve()), "tracks": args.tracks, "cpus": os.cpu_count(),
        "startup_s": round(up_s, 2), "server_rss_mib_idle": idle["VmRSS"],
        "server_rss_mib_after": after["VmRSS"], "server_rss_mib_peak": after["VmHWM"],
        "server_cpu_s_load": round(after["cpu_s"] - idle["cpu_s"], 2),
        **report, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started))}))


if __name__ == "__main__":
    main()
