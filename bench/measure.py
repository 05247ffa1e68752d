"""Run one command in a fresh subprocess and measure it: wall seconds, CPU seconds, peak memory.

- CPU seconds are user + system time of the child and every descendant it waited for (dbt, which
  Dagster runs as a subprocess, is included), from `os.wait4` on the child: the kernel's own
  accounting, not a sample.
- `max_rss_mb` is the largest resident set of any single process of that tree (`ru_maxrss`).
- `peak_tree_rss_mb` is the largest *sum* of resident sets of the child and its descendants alive
  at the same moment, sampled every 50 ms with psutil: the memory the measurement really needed
  (e.g. Dagster and its dbt subprocess together). Sampling can miss a spike shorter than 50 ms.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05


@dataclasses.dataclass
class Measurement:
    label: str
    command: list[str]
    returncode: int
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    max_rss_mb: float
    peak_tree_rss_mb: float
    output_tail: str

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "command": " ".join(self.command),
            "returncode": self.returncode,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "cpu_user_s": round(self.cpu_user_s, 3),
            "cpu_sys_s": round(self.cpu_sys_s, 3),
            "max_rss_mb": round(self.max_rss_mb, 1),
            "peak_tree_rss_mb": round(self.peak_tree_rss_mb, 1),
        }


class _TreeRssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._halt.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._halt.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self._halt.set()
        self.join(timeout=2)
        return self.peak


def run(
    label: str,
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 600,
    log: Path | None = None,
) -> Measurement:
    """Run `command` to completion (killed after `timeout` seconds) and measure it.

    Output (stdout and stderr together) goes to `log` if given; the last lines are kept for errors.
    """
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        sampler = _TreeRssSampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            # wait4 instead of proc.wait(): it returns the rusage of exactly this child's tree.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = sampler.stop()
    finally:
        if log:
            out.close()
    tail = ""
    if log and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    return Measurement(
        label=label,
        command=[str(c) for c in command],
        returncode=proc.returncode,
        wall_s=wall,
        cpu_user_s=usage.ru_utime,
        cpu_sys_s=usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
        peak_tree_rss_mb=peak / 2**20,
        output_tail=tail,
    )
