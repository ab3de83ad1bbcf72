"""Memory of `salesbot serve`: RSS idle, after warm-up and after sustained signed Slack report DMs.

    python bench/memory.py [--db URL] [--seconds 60] [--concurrency 10] [--workers 1]
                           [--max-backlog 200] [--sample 5]

Starts the real server (subprocess, loopback, Slack pointed at a fake Web API), reads VmRSS from
/proc/PID/status of the server and its child processes. Goals: <= 200 MB after load, and growth
<= 5 % from the end of the warm-up (first 20 % of the load) to after the load (once what was
acknowledged has been handled and sent, at most 120 s).

The server acknowledges a report before handling it, and acknowledging is much cheaper: a closed
loop of senders outruns the handling, and the server then holds up to 5,000 acknowledged events in
memory (bot.core.handling.MAX_QUEUED) — growth that stops at that bound. By default the senders
pause while more than `--max-backlog` acknowledged events wait to be handled, so the load is the
most the server sustains end to end and the growth figure shows what a steady load leaves behind;
`--max-backlog 0` sends flat out (the queue fills within the run: its growth is that bound).

`--sample N` also prints the RSS curve every N seconds from the start of the load through the
draining (with the server's threads and, on SQLite, its open database connections and file size).
Debugging, inside the server: SALESBOT_BENCH_DEBUG=1 prints SQLite's allocator, glibc's arenas
(in use / free), Python object count and pool status every `--sample` seconds;
SALESBOT_BENCH_TRACEMALLOC=1 also runs it under tracemalloc and prints the top Python allocation
growth from the end of the warm-up to after the load (slow: such runs' figures are not the bench's).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import run  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.wiring import App  # noqa: E402
from tests.support.fake_slack import running_fake_slack  # noqa: E402
from tests.support.org import build_org  # noqa: E402

SECRET = "bench-signing-secret"
USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH")
GOAL_MB = 200.0
GOAL_GROWTH = 0.05


def rss_kb(pid: int) -> int:
    """VmRSS of a process and, recursively, its children."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            total += sum(rss_kb(int(c)) for c in children)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def proc_info(pid: int, db_file: str | None) -> tuple[int, int]:
    """Threads of the server and how many of its file descriptors are open on the SQLite file."""
    threads = conns = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
        if db_file:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    conns += os.readlink(fd) == db_file
                except OSError:
                    pass
    except (FileNotFoundError, ProcessLookupError):
        pass
    return threads, conns


class Sampler:
    """RSS every `every` seconds from `start()` on, in a background thread."""

    def __init__(self, pid: int, every: float, db_file: str | None) -> None:
        self.pid, self.every, self.db_file = pid, every, db_file
        self.points: list[tuple[float, int, int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Sampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            size = 0
            if self.db_file:
                size = sum(os.path.getsize(f) for f in (self.db_file, self.db_file + "-wal") if os.path.exists(f))
            self.points.append((time.monotonic() - self._t0, rss_kb(self.pid), *proc_info(self.pid, self.db_file),
                                size // 1024))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- debugging hook: the server's own view of its memory -------------------------------------------

DEBUG_ENV = "SALESBOT_BENCH_DEBUG"  # 1: stats.jsonl from inside the server every --sample seconds
TRACE_ENV = "SALESBOT_BENCH_TRACEMALLOC"  # 1: also tracemalloc, a snapshot after warm-up and after load


def _server_stats() -> dict[str, object]:
    """SQLite's allocator, glibc's heap, Python objects, threads and pools, seen from inside."""
    import ctypes
    import gc

    out: dict[str, object] = {"threads": threading.active_count(), "gc_objects": len(gc.get_objects())}
    try:
        lib = ctypes.CDLL("libsqlite3.so.0")  # the one _sqlite3 is linked against (loaded once)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        out["sqlite_kb"] = lib.sqlite3_memory_used() // 1024
    except OSError:
        pass
    try:
        class MallInfo2(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in
                        ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                         "fordblks", "keepcost")]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        mi = libc.mallinfo2()  # main arena only, plus mmapped blocks
        out["main_arena_in_use_kb"] = (mi.uordblks + mi.hblkhd) // 1024
        # Every arena (one per thread that allocated, up to 8 x cores): malloc_info's XML.
        import tempfile
        import xml.etree.ElementTree as ET

        libc.fopen.restype = ctypes.c_void_p
        with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
            fp = libc.fopen(tmp.name.encode(), b"w")
            libc.malloc_info(0, ctypes.c_void_p(fp))
            libc.fclose(ctypes.c_void_p(fp))
            root = ET.parse(tmp.name).getroot()
        out["arenas"] = len(root.findall("heap"))
        out["arenas_system_kb"] = sum(int(e.get("size", 0)) for e in root.findall("system")
                                      if e.get("type") == "current") // 1024
        out["arenas_free_kb"] = sum(int(e.get("size", 0)) for e in root.findall("total")
                                    if e.get("type") in ("fast", "rest")) // 1024
    except (OSError, AttributeError):
        pass
    try:
        from sqlalchemy import Engine

        out["pools"] = [o.pool.status() for o in gc.get_objects() if isinstance(o, Engine)]
    except Exception as exc:  # only a debugging aid
        out["pools"] = repr(exc)
    return out


def serve_debug(out_dir: str, every: float, argv: list[str]) -> None:
    """Run `salesbot serve` writing stats.jsonl every `every` s; under tracemalloc when asked, where each
    SIGUSR1 writes snapshot-N.pickle."""
    import json
    import tracemalloc

    traced = os.environ.get(TRACE_ENV) == "1"
    if traced:
        tracemalloc.start(8)
    count = [0]

    def dump(*_: object) -> None:
        import gc

        gc.collect()
        count[0] += 1
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        tmp = Path(out_dir) / f".snapshot-{count[0]}"
        tmp.write_bytes(pickle.dumps((snap, _server_stats())))
        tmp.rename(Path(out_dir) / f"snapshot-{count[0]}.pickle")

    def stats_loop() -> None:
        t0 = time.monotonic()
        with open(Path(out_dir) / "stats.jsonl", "a") as f:
            while True:
                time.sleep(every)
                f.write(json.dumps({"t": round(time.monotonic() - t0, 1), **_server_stats()}) + "\n")
                f.flush()

    if traced:
        signal.signal(signal.SIGUSR1, dump)
    if every > 0:
        threading.Thread(target=stats_loop, daemon=True, name="bench-stats").start()
    from bot.cli import main as cli_main

    sys.argv = ["salesbot", *argv]
    cli_main()


def take_snapshot(pid: int, snap_dir: str, n: int) -> tuple[object, dict[str, object]]:
    os.kill(pid, signal.SIGUSR1)
    path = Path(snap_dir) / f"snapshot-{n}.pickle"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no tracemalloc snapshot from the server")
        time.sleep(0.2)
    return pickle.loads(path.read_bytes())


def print_growth(first: tuple[object, dict[str, object]], last: tuple[object, dict[str, object]]) -> None:
    (snap1, extra1), (snap2, extra2) = first, last
    print(f"tracemalloc: after warm-up {extra1}\n             after load    {extra2}")
    stats = [st for st in snap2.compare_to(snap1, "traceback") if st.size_diff > 0]  # type: ignore[attr-defined]
    total = sum(st.size_diff for st in snap2.compare_to(snap1, "filename"))  # type: ignore[attr-defined]
    print(f"traced Python heap growth {total / 1024:+.1f} KiB; top 10 growing:")
    for st in stats[:10]:
        print(f"  {st.size_diff / 1024:+9.1f} KiB {st.count_diff:+7d} blocks")
        for line in st.traceback.format(limit=4, most_recent_first=True):
            print("      " + line.strip())


_readers: dict[str, Any] = {}


def unhandled(url: str) -> tuple[int, int]:
    """Events acknowledged but not handled yet, and outbox messages not sent yet (a reader, no lock)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = _readers.get(url)
    if engine is None:
        engine = _readers[url] = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        events = conn.scalar(text("SELECT count(*) FROM inbound_events WHERE processed_at IS NULL"))
        outbox = conn.scalar(text("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"))
    return int(events or 0), int(outbox or 0)


def load(events_url: str, db_url: str, args: argparse.Namespace, seconds: float) -> tuple[int, int]:
    """Send signed report DMs for `seconds`; return (sent, errors).

    Requests are acknowledged before they are handled, and acknowledging is cheaper than handling: a
    closed loop of `--concurrency` senders outruns the handling (by far on SQLite), and the server
    then holds up to bot.core.handling.MAX_QUEUED acknowledged events in memory. With `--max-backlog N`
    (default) the senders pause while more than N acknowledged events wait to be handled, so the load
    is the most the server sustains end to end; `--max-backlog 0` sends flat out.
    """
    if args.max_backlog <= 0:
        figures = asyncio.run(run(events_url, SECRET, USERS, concurrency=args.concurrency, count=10**9,
                                  max_seconds=seconds))
        return figures.sent, figures.errors
    sent = errors = 0
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if unhandled(db_url)[0] > args.max_backlog:
            time.sleep(min(0.1, left))
            continue
        figures = asyncio.run(run(events_url, SECRET, USERS, concurrency=args.concurrency, count=10**9,
                                  max_seconds=min(0.5, left)))
        sent, errors = sent + figures.sent, errors + figures.errors
    return sent, errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the sustained load")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-backlog", type=int, default=200,
                        help="pause the senders while more acknowledged events wait to be handled (0: flat out)")
    parser.add_argument("--sample", type=float, default=0.0,
                        help="print the RSS curve, one point every SAMPLE seconds (0: off)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='salesbot-mem-')}/bench.db"
    with running_fake_slack() as fake:
        slack = {"bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": fake.url}
        app = App(load_settings(None, database={"url": url}, slack=slack))
        try:
            build_org(app.db)
        except Exception:  # already there from an earlier run
            pass
        app.close()
        port = free_port()
        env = {**os.environ, "SALESBOT_DATABASE__URL": url, "SALESBOT_SLACK__BOT_TOKEN": "xoxb-bench",
               "SALESBOT_SLACK__SIGNING_SECRET": SECRET, "SALESBOT_SLACK__API_URL": fake.url}
        env.pop("SALESBOT_CONFIG", None)
        serve_args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler",
                      "--workers", str(args.workers)]
        debug = os.environ.get(DEBUG_ENV) == "1" or os.environ.get(TRACE_ENV) == "1"
        snap_dir = tempfile.mkdtemp(prefix="salesbot-mem-debug-") if debug else None
        if snap_dir:
            cmd = [sys.executable, __file__, "--serve-debug", snap_dir, str(args.sample), *serve_args]
        else:
            cmd = [sys.executable, "-m", "bot", *serve_args]
        db_file = os.path.realpath(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
        snaps = []
        sampler = None
        with tempfile.TemporaryDirectory() as cwd:
            err = open(Path(snap_dir) / "server.log", "wb") if snap_dir else subprocess.DEVNULL  # noqa: SIM115
            proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + (300 if snap_dir else 60)
                while True:
                    try:
                        if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("salesbot serve did not come up" + (f" (see {snap_dir}/server.log)"
                                                                              if snap_dir else ""))
                    time.sleep(0.2)
                time.sleep(2)
                idle = rss_kb(proc.pid)
                if args.sample > 0:
                    sampler = Sampler(proc.pid, args.sample, db_file).start()
                events = base + "/slack/events"
                warm = load(events, url, args, args.seconds * 0.2)
                after_warm = rss_kb(proc.pid)
                backlog_warm = unhandled(url)
                if snap_dir and os.environ.get(TRACE_ENV) == "1":
                    snaps.append(take_snapshot(proc.pid, snap_dir, 1))
                rest = load(events, url, args, args.seconds * 0.8)
                end_of_load = rss_kb(proc.pid)
                backlog_end = unhandled(url)
                # Requests are acknowledged before they are handled: let the handling thread(s) and the
                # outbox worker finish what was acknowledged (bounded), then read the figure.
                drained = time.monotonic()
                while unhandled(url) != (0, 0) and time.monotonic() - drained < 120:
                    time.sleep(0.5)
                drained = time.monotonic() - drained
                backlog_after = unhandled(url)
                time.sleep(2)
                after = rss_kb(proc.pid)
                if snap_dir and os.environ.get(TRACE_ENV) == "1":
                    snaps.append(take_snapshot(proc.pid, snap_dir, 2))
            finally:
                if sampler is not None:
                    sampler.stop()
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
    requests = warm[0] + rest[0]
    errors = warm[1] + rest[1]
    growth = (after - after_warm) / after_warm
    mb = after / 1024
    print(f"database: {url.split(':')[0]}; workers {args.workers}; {requests} signed report DMs in "
          f"{args.seconds:g} s ({errors} errors), concurrency {args.concurrency}, "
          + (f"paced to <= {args.max_backlog} acknowledged events waiting" if args.max_backlog > 0 else "flat out"))
    print(f"RSS idle {idle / 1024:6.1f} MB   after warm-up {after_warm / 1024:6.1f} MB   after load {mb:6.1f} MB")
    print(f"acknowledged but not handled / not sent: after warm-up {backlog_warm[0]} / {backlog_warm[1]}, "
          f"end of load {backlog_end[0]} / {backlog_end[1]} (RSS then {end_of_load / 1024:.1f} MB), "
          f"{backlog_after[0]} / {backlog_after[1]} after {drained:.1f} s of draining")
    print(f"after load / goal {mb / GOAL_MB:.2f} (goal <= 1.0, {GOAL_MB:g} MB)  "
          f"growth after warm-up {growth * 100:+.1f} % (goal <= {GOAL_GROWTH * 100:g} %)  "
          f"{'ok' if mb <= GOAL_MB and growth <= GOAL_GROWTH else 'MISSED'}")
    if sampler is not None and sampler.points:
        print(f"RSS every {args.sample:g} s of load and draining (s: MB, threads"
              + (", SQLite connections, database + WAL MB)" if db_file else ")"))
        cells = [f"{t:4.0f}: {kb / 1024:5.1f}, {th}" + (f", {c}, {size / 1024:.1f}" if db_file else "")
                 for t, kb, th, c, size in sampler.points]
        for i in range(0, len(cells), 6):
            print("  " + "   ".join(cells[i:i + 6]))
    if snap_dir and (Path(snap_dir) / "stats.jsonl").exists():
        print(f"inside the server every {args.sample:g} s since start-up ({snap_dir}/stats.jsonl):")
        for line in (Path(snap_dir) / "stats.jsonl").read_text().splitlines():
            print("  " + line)
    if len(snaps) == 2:
        print_growth(snaps[0], snaps[1])


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--serve-debug":
        serve_debug(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    else:
        main()
