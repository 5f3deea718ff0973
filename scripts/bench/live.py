"""Live concurrency benchmark: N cheap cases through a latency-injecting proxy with concurrency C.

A proxy (asyncio, 127.0.0.1, ephemeral port) forwards to the local gateway (LiteLLM on
127.0.0.1:${LITELLM_PORT:-4000}) and holds every reply for --delay seconds (300 ms) before passing it
on, so each request costs about the delay and the run's lower bound is delay x N / C. It counts the
requests in flight (from a request's arrival to the last byte of its reply) and the maximum seen.

The run is `conformance run --mode live` in ONE process on a temporary project: one target whose
only surface is openai-chat at the proxy, with `limits.concurrency: C`, and N copies of one tiny
chat case (one "Hi" message, max_tokens 1, expect status 200). The suite sends the tests ahead on a
thread pool of 2 x C threads, C requests in flight at most (conformance/run/prefetch.py). `--workers W` runs it
with pytest-xdist (`-n W`) instead; `--compare-xdist` measures both, one after the other (xdist with W, default C).

The model is LiteLLM's mock model `mock-multimodal` by default (scripts/live/litellm.yaml:
`mock_response`, answered by the gateway itself). The goal measures the suite's overhead against
the bound, so the endpoint's own time should stay out of it: SmolLM2 on llama.cpp shares the 2
cores with the suite and works through concurrent requests one at a time (tens of ms each, more
when they queue), which stretches the run for reasons that are not the suite's. The mock still
goes through the real gateway (auth, routing, its HTTP stack and OpenAI-format reply).
`--model smollm2-135m` measures with the real model. The gateway's own time per request (request
forwarded -> reply headers) is printed either way, with the bound it would give.

The master key is read by the suite from .stack/run/secrets.env (the target's secrets_file); this
script never reads or prints it.

    .venv/bin/python scripts/bench/live.py [--n 60] [--concurrency 4] [--workers W | --compare-xdist]
                                           [--delay 0.3] [--repeat 3] [--model mock-multimodal]

Goal: wall within 1.3 x the bound, and never more than C requests in flight at the proxy.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_env, conformance_cmd, cpu_timed, describe_env, header, median  # noqa: E402

SECRETS = ROOT / ".stack" / "run" / "secrets.env"


class DelayProxy:
    """HTTP/1.1 forwarder, one request per connection, that delays each reply by `delay` seconds."""

    def __init__(self, upstream: tuple[str, int], delay: float):
        self.upstream = upstream
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.failures = 0
        self.first_in: float | None = None
        self.last_out: float | None = None
        self.upstream_s: list[float] = []  # request forwarded -> upstream reply headers
        self.spans: list[tuple[float, float]] = []  # (arrival, last byte out) per request
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.port = 0

    def start(self) -> None:
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    def stop(self) -> None:
        async def close():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        now = time.monotonic()
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.first_in = now if self.first_in is None else self.first_in
        counted = True
        up_writer = None
        arrived = now
        try:
            request_line, headers = _split_head(head)
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            up_writer.write(_join_head(request_line, headers, close=True) + body)
            await up_writer.drain()
            sent = time.monotonic()
            status_line, resp_headers = _split_head(await up_reader.readuntil(b"\r\n\r\n"))
            self.upstream_s.append(time.monotonic() - sent)
            await asyncio.sleep(self.delay)
            writer.write(_join_head(status_line, resp_headers, close=True))
            async for piece, last in _body(up_reader, resp_headers):
                writer.write(piece)
                if last:
                    # Counted out as its last byte is handed over, before any await: the client cannot
                    # have read it (and started another request) while it is still counted here.
                    self.in_flight -= 1
                    counted = False
                    self.last_out = time.monotonic()
                    self.spans.append((arrived, self.last_out))
            await writer.drain()
        except Exception:  # noqa: BLE001 - a broken exchange is counted, and the client sees the error
            self.failures += 1
        finally:
            if counted:
                self.in_flight -= 1
                self.last_out = time.monotonic()
            for w in (writer, up_writer):
                if w is not None:
                    w.close()


def _split_head(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    lines = head[:-4].split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _join_head(first: bytes, headers: dict[bytes, bytes], close: bool) -> bytes:
    out = [first] + [k + b": " + v for k, v in headers.items() if k not in (b"connection", b"keep-alive")]
    if close:
        out.append(b"connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n"


async def _body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]):
    """The reply body as read (raw framing kept), each piece with whether it is the last one."""
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                trailer = b""
                while True:
                    line = await reader.readuntil(b"\r\n")
                    trailer += line
                    if line == b"\r\n":
                        break
                yield size_line + trailer, True
                return
            yield size_line + await reader.readexactly(size + 2), False
    elif b"content-length" in headers:
        remaining = int(headers[b"content-length"])
        if remaining == 0:
            yield b"", True
        while remaining > 0:
            piece = await reader.read(min(remaining, 65536))
            if not piece:
                raise ConnectionError("upstream closed early")
            remaining -= len(piece)
            yield piece, remaining == 0
    else:
        data = await reader.read()
        yield data, True


def write_project(folder: Path, n: int, concurrency: int, port: int, model: str) -> None:
    (folder / "cases" / "openai-chat").mkdir(parents=True)
    (folder / "targets").mkdir()
    cases = "\n".join(f"""  - id: tiny-{i:03d}
    request:
      messages: [{{role: user, content: "Hi"}}]
      max_tokens: 1
    expect:
      status: 200""" for i in range(1, n + 1))
    (folder / "cases" / "openai-chat" / "bench.yaml").write_text(
        "api: openai-chat\nfeature: bench\ndescription: One tiny chat request, repeated (scripts/bench/live.py).\n"
        f"requires: [chat]\ncases:\n{cases}\n")
    (folder / "targets" / "bench-live.yaml").write_text(f"""name: bench-live
description: The local LiteLLM gateway behind scripts/bench/live.py's latency-injecting proxy.
secrets_file: {SECRETS}
auth: {{bearer: "${{LITELLM_MASTER_KEY}}"}}
surfaces:
  openai-chat: {{base_url: "http://127.0.0.1:{port}/v1"}}
models:
  {model}: {{apis: [openai-chat], capabilities: [chat]}}
limits: {{concurrency: {concurrency}, connect_timeout_s: 5, read_timeout_s: 60, total_timeout_s: 120, retries: 0}}
""")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def measure(args, env: dict, work: Path, port: int, label: str, workers: int | None) -> list[dict]:
    """`args.repeat` measured runs, each through a fresh delaying proxy; one row per run."""
    rows = []
    for rep in range(args.repeat):
        proxy = DelayProxy(("127.0.0.1", port), args.delay)
        proxy.start()
        project = work / f"{label}-{rep}"
        write_project(project, args.n, args.concurrency, proxy.port, args.model)
        cmd = conformance_cmd() + ["run", "--root", str(project), "--target", "bench-live", "--mode", "live",
                                   "--report-dir", str(project / "reports")]
        if workers:
            cmd += ["-n", str(workers)]
        run_env = {**env, "CONFORMANCE_SLOTS_DIR": str(work / f"slots-{label}-{rep}")}
        wall, cpu, proc = cpu_timed(cmd, cwd=project, env=run_env)
        proxy.stop()
        if proc.returncode not in (0, 1):
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(f"conformance run failed (exit {proc.returncode})")
        results = json.loads((project / "reports" / "latest" / "results.json").read_text())["results"]
        verdicts: dict[str, int] = {}
        for r in results:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        window = (proxy.last_out - proxy.first_in) if proxy.first_in and proxy.last_out else float("nan")
        rows.append({"wall": wall, "cpu": cpu, "window": window, "max": proxy.max_in_flight,
                     "requests": proxy.requests, "failures": proxy.failures,
                     "upstream": median(proxy.upstream_s) if proxy.upstream_s else float("nan"),
                     "verdicts": verdicts})
        if args.timeline:
            for a, b in sorted(proxy.spans):
                print(f"      {a - proxy.first_in:6.3f} -> {b - proxy.first_in:6.3f}  ({(b - a) * 1000:.0f} ms)")
        print(f"   [{label} {rep + 1}/{args.repeat}] wall {wall:.2f}s (CPU {cpu:.2f}s); at the proxy: "
              f"{proxy.requests} requests, first in -> last out {window:.2f}s, max in flight "
              f"{proxy.max_in_flight}, upstream median {rows[-1]['upstream'] * 1000:.0f} ms; "
              f"verdicts {verdicts}", flush=True)
    return rows


def summarize(args, rows: list[dict], how: str) -> None:
    bound = args.delay * args.n / args.concurrency
    wall, window = median(r["wall"] for r in rows), median(r["window"] for r in rows)
    worst = max(r["max"] for r in rows)
    print(f"-- {how}: bound = delay x N / C = {args.delay:g} x {args.n} / {args.concurrency} = {bound:.2f}s")
    print(f"   wall of the whole run (process start included): {wall:.2f}s = "
          f"{wall / bound:.2f} x bound ({'meets' if wall <= args.goal * bound else 'MISSES'} <= {args.goal})")
    print(f"   requests in progress at the proxy (first arrival -> last reply byte): {window:.2f}s = "
          f"{window / bound:.2f} x bound ({'meets' if window <= args.goal * bound else 'MISSES'} <= {args.goal})")
    print(f"   start-up and teardown outside that window: {wall - window:.2f}s; "
          f"CPU of the run (median): {median(r['cpu'] for r in rows):.2f}s")
    upstream = median(r["upstream"] for r in rows)
    print(f"   the gateway's own time (request forwarded -> reply headers, median): {upstream * 1000:.0f} ms; "
          f"with it the bound would be {(args.delay + upstream) * args.n / args.concurrency:.2f}s")
    print(f"   max requests in flight at the proxy: {worst} (configured concurrency {args.concurrency}: "
          f"{'never exceeded' if worst <= args.concurrency else 'EXCEEDED'})")
    if any(r["failures"] or r["requests"] != args.n for r in rows):
        print(f"   note: proxy failures {[r['failures'] for r in rows]}, requests {[r['requests'] for r in rows]} "
              f"(expected {args.n} each)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60, help="number of cases (requests)")
    ap.add_argument("--concurrency", type=int, default=4, help="the target's limits.concurrency (C)")
    ap.add_argument("--workers", type=int, default=None,
                    help="run with pytest-xdist -n W instead of one process (default: one process)")
    ap.add_argument("--compare-xdist", action="store_true",
                    help="measure one process, then xdist with --workers (default C) workers")
    ap.add_argument("--model", default="mock-multimodal",
                    help="the LiteLLM model the case asks for (default: the mock, answered by the gateway itself)")
    ap.add_argument("--delay", type=float, default=0.3, help="seconds added to every reply")
    ap.add_argument("--repeat", type=int, default=3, help="runs (median reported); each sends N requests")
    ap.add_argument("--goal", type=float, default=1.3)
    ap.add_argument("--timeline", action="store_true", help="print each request's arrival and end at the proxy")
    args = ap.parse_args()
    modes: list[tuple[str, int | None]] = []
    if args.workers is None or args.compare_xdist:
        modes.append(("one-process", None))
    if args.workers is not None or args.compare_xdist:
        modes.append((f"xdist-{args.workers or args.concurrency}", args.workers or args.concurrency))
    header(f"live: {args.n} cases, concurrency {args.concurrency}, {' and '.join(m for m, _ in modes)}, "
           f"{args.delay * 1000:.0f} ms added to every reply")
    port = int(os.environ.get("LITELLM_PORT", "4000"))
    if not SECRETS.is_file() or not reachable("127.0.0.1", port):
        print(f"-- skipped: the local gateway is not running on 127.0.0.1:{port} (scripts/live/start.sh)")
        return 0
    env = bench_env()
    print(f"   python: {describe_env(env)}")
    print(f"   case: openai-chat, one user message \"Hi\", max_tokens 1, expect status 200 (model {args.model})")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        work = Path(tmp)
        # Unmeasured warm-up: C requests at once through a proxy without delay, in each way measured
        # (it also fills the bytecode cache). After a pause the gateway answers its first concurrent
        # requests slower (llama.cpp works through cold prompts one by one), which is not the suite's cost.
        proxy = DelayProxy(("127.0.0.1", port), 0.0)
        proxy.start()
        for label, workers in modes:
            write_project(work / f"warm-up-{label}", args.concurrency, args.concurrency, proxy.port, args.model)
            cpu_timed(conformance_cmd() + ["run", "--root", str(work / f"warm-up-{label}"), "--target", "bench-live",
                                           "--mode", "live", "--report-dir", str(work / f"warm-up-{label}-reports")]
                      + (["-n", str(workers)] if workers else []),
                      cwd=work, env={**env, "CONFORMANCE_SLOTS_DIR": str(work / "slots-warm-up")})
        proxy.stop()
        print(f"   warm-up (not measured): {proxy.requests} requests, {args.concurrency} at once, straight through "
              "(no delay)")
        measured = [(label, workers, measure(args, env, work, port, label, workers)) for label, workers in modes]
    for _label, workers, rows in measured:
        summarize(args, rows, "one process (the suite's own thread pool)" if workers is None
                  else f"pytest-xdist -n {workers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
