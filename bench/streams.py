"""Many concurrent server-sent-event streams against one server, for `make bench`.

`open_streams` starts every stream at the same moment on its own connection (raw asyncio
sockets: HTTP/1.1, chunked or close-delimited bodies) and times, per stream, the first response
byte, the first text event, every gap between text events and the end (`data: [DONE]`).
`MemorySampler` follows the server's processes meanwhile. `summarize` turns both into one row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StreamSample:
    """What one client saw of its stream; times in ms from sending the request."""

    status: int = 0
    ttfb_ms: float | None = None
    first_text_ms: float | None = None
    total_ms: float | None = None
    gaps_ms: list[float] = field(default_factory=list)
    texts: int = 0
    done_event: bool = False
    complete: bool = False
    error: str | None = None


@dataclass
class StreamResult:
    """One configuration's figures over all its streams."""

    label: str
    streams: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    first_text_p50_ms: float
    total_p50_ms: float
    total_max_ms: float
    gap_p50_ms: float
    gap_p99_ms: float
    gap_max_ms: float
    wall_s: float
    memory_pss_mib: float
    worker_peak_rss_mib: float


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """The response body as it arrives, de-chunked."""
    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                return
            yield (await reader.readexactly(size + 2))[:-2]
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while piece := await reader.read(65536):
            yield piece


async def _one_stream(port: int, path: str, token: str, body: bytes, sample: StreamSample) -> None:
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        status_line = await reader.readline()
        sample.ttfb_ms = elapsed()
        sample.status = int(status_line.split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        buffer, last_text = b"", None
        async for piece in _body(reader, headers):
            buffer += piece.replace(b"\r\n", b"\n")
            now = elapsed()
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                lines = [line for line in event.split(b"\n") if not line.startswith(b":")]
                if not lines:
                    continue  # a comment: keep-alive
                if lines[0].startswith(b"event:"):
                    kind = lines[0][6:].strip()
                    sample.done_event |= kind == b"done"
                    if kind == b"error":
                        sample.error = "error event"
                elif lines == [b"data: [DONE]"]:
                    sample.complete = True
                    sample.total_ms = now
                else:
                    sample.texts += 1
                    if last_text is None:
                        sample.first_text_ms = now
                    else:
                        sample.gaps_ms.append(now - last_text)
                    last_text = now
        if sample.status != 200:
            sample.error = f"HTTP {sample.status}"
        elif not sample.complete and sample.error is None:
            sample.error = "ended without [DONE]"
    finally:
        writer.close()


async def open_streams(
    port: int, path: str, tokens: list[str], body: dict[str, object], count: int, deadline: float
) -> tuple[list[StreamSample], float]:
    """`count` streams at once (tokens rotated); those not done within `deadline` s are errors."""
    payload = json.dumps(body).encode()
    samples = [StreamSample() for _ in range(count)]

    async def run(index: int) -> None:
        sample = samples[index]
        try:
            await asyncio.wait_for(
                _one_stream(port, path, tokens[index % len(tokens)], payload, sample), deadline
            )
        except TimeoutError:
            sample.error = f"not done within {deadline:.0f} s"
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            sample.error = type(error).__name__

    started = time.perf_counter()
    await asyncio.gather(*(run(index) for index in range(count)))
    return samples, time.perf_counter() - started


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (Linux /proc)."""
    pids, pending = [], [root]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in task.read_text().split()]
    return pids


def _read_kib(path: str, label: str) -> int:
    try:
        match = re.search(rf"^{label}:\s+(\d+) kB", Path(path).read_text(), re.MULTILINE)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


class MemorySampler:
    """Samples the server's summed PSS (shared pages counted once) every 0.2 s in a thread."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_pss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            pss = sum(
                _read_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in process_tree(self.root)
            )
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            if self._stop.wait(0.2):
                return

    def worker_peak_rss_mib(self) -> float:
        """The largest peak resident size (VmHWM) among the server's processes but the root."""
        peaks = [_read_kib(f"/proc/{pid}/status", "VmHWM") for pid in process_tree(self.root)[1:]]
        return max(peaks, default=0) / 1024


def summarize(
    label: str, samples: list[StreamSample], wall_s: float, memory: MemorySampler
) -> StreamResult:
    """One row of figures from every stream of one configuration."""
    ok = [sample for sample in samples if sample.error is None]
    kinds: dict[str, int] = {}
    for sample in samples:
        if sample.error is not None:
            kinds[sample.error] = kinds.get(sample.error, 0) + 1
    ttfb = [sample.ttfb_ms for sample in samples if sample.ttfb_ms is not None]
    first = [sample.first_text_ms for sample in samples if sample.first_text_ms is not None]
    total = [sample.total_ms for sample in ok if sample.total_ms is not None]
    gaps = [gap for sample in samples for gap in sample.gaps_ms]
    return StreamResult(
        label=label,
        streams=len(samples),
        ok=len(ok),
        errors=len(samples) - len(ok),
        error_kinds=kinds,
        ttfb_p50_ms=percentile(ttfb, 0.5),
        ttfb_p99_ms=percentile(ttfb, 0.99),
        first_text_p50_ms=percentile(first, 0.5),
        total_p50_ms=percentile(total, 0.5),
        total_max_ms=max(total, default=float("nan")),
        gap_p50_ms=percentile(gaps, 0.5),
        gap_p99_ms=percentile(gaps, 0.99),
        gap_max_ms=max(gaps, default=float("nan")),
        wall_s=wall_s,
        memory_pss_mib=memory.peak_pss_kib / 1024,
        worker_peak_rss_mib=memory.worker_peak_rss_mib(),
    )


def render(results: list[StreamResult], chunks: int, interval_ms: float) -> list[str]:
    """A Markdown table of the stream figures."""
    lines = [
        f"Streams: each `stream: true` completion is {chunks} chunks {interval_ms:.0f} ms apart "
        f"at the provider (about {(chunks - 1) * interval_ms / 1000:.1f} s); all streams open "
        "at once. TTFB: first response byte; first text: first text event; gap: between text "
        "events (ideal: the provider's interval); memory: peak PSS summed over the server's "
        "processes, and the largest worker's peak RSS.",
        "",
        "| server | streams | ok | TTFB p50 ms | TTFB p99 ms | first text p50 ms | total p50 s "
        "| total max s | gap p50 ms | gap p99 ms | gap max ms | all done s | PSS MiB "
        "| worker RSS MiB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results:
        kinds = ", ".join(f"{count} {kind}" for kind, count in row.error_kinds.items()) or "0"
        lines.append(
            f"| {row.label} | {row.streams} | {row.ok} | {row.ttfb_p50_ms:.0f} "
            f"| {row.ttfb_p99_ms:.0f} | {row.first_text_p50_ms:.0f} "
            f"| {row.total_p50_ms / 1000:.2f} | {row.total_max_ms / 1000:.2f} "
            f"| {row.gap_p50_ms:.0f} | {row.gap_p99_ms:.0f} | {row.gap_max_ms:.0f} "
            f"| {row.wall_s:.1f} | {row.memory_pss_mib:.0f} | {row.worker_peak_rss_mib:.0f} "
            f"| {kinds} |"
        )
    return lines
