"""Peak anonymous memory of a command and every process it starts, sampled from /proc.

    .venv/bin/python -m bench.process_memory -- dvc repro -s train
    .venv/bin/python -m bench.process_memory -- python -c "b = bytearray(2**28)"

Every ~50 ms the sampler walks /proc for the command's process tree (children by their
``ppid``, so dataloader workers, multiprocessing pools and the shell DVC runs a stage in all
count) and sums ``RssAnon`` from each one's ``/proc/<pid>/status``. The peak of that sum is
the figure, with a second one from ``Pss_Anon`` (``/proc/<pid>/smaps_rollup``).

Why RssAnon and not RSS: a stage that memory-maps the image store shows the mapped pages in
its RSS, but those are file-backed (``RssFile``) page cache: shared between processes
that map the same file (counted once in the machine's memory, once per process in RSS) and
dropped by the kernel under pressure, to be read back from disk. Anonymous memory (the heap,
decoded arrays, tensors) has no file to go back to: it stays resident or goes to swap, and
it is what runs a machine out of memory. So "memory is a function of the batch" is checked
on the anonymous sum.

Why also Pss_Anon: a dataloader worker is a fork of the training process, and the pages they
still share (copy-on-write: the imported torch, Lightning and MLflow, about 0.6 GiB) appear in
the RssAnon of both. Pss_Anon divides each page by the processes sharing it, so its sum over
the tree is the memory the tree really holds; the RssAnon sum counts those pages twice.
Limits: a peak shorter than the sampling period can be missed, and a
process that detaches from the tree (reparented to init) is no longer counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

PERIOD_S = 0.05


class MeasuredRun(NamedTuple):
    """How a command ended, how long it ran, and its tree's peak summed RssAnon."""

    returncode: int
    wall_s: float
    peak_anonymous_bytes: int  # RssAnon summed over the tree
    peak_proportional_bytes: int  # Pss_Anon summed over the tree: shared pages counted once


def children_by_parent() -> dict[int, list[int]]:
    """Every live process's children, from the ``ppid`` field of ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # exited since the listing
            continue
        # The command name (field 2) is in parentheses and may hold spaces or parentheses.
        ppid = int(stat[stat.rindex(")") + 2 :].split(maxsplit=2)[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    children = children_by_parent()
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def anonymous_bytes(pid: int) -> int:
    """``RssAnon`` of ``pid`` in bytes; 0 for a process that has exited (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return 0


def proportional_anonymous_bytes(pid: int) -> int:
    """``Pss_Anon`` of ``pid`` in bytes (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_anonymous_memory(
    cmd: Sequence[str],
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    output: IO[str] | None = None,
    count_root: bool = True,
) -> MeasuredRun:
    """Run ``cmd`` to completion (stdout and stderr to ``output``, else inherited) and return
    its exit status, wall seconds and the peaks of RssAnon and Pss_Anon summed over its
    process tree (without ``cmd``'s own process unless ``count_root``: ``dvc`` running a
    stage)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(cmd), cwd=cwd, env=None if env is None else dict(env), stdout=output, stderr=output
    )
    peak = proportional = 0
    while process.poll() is None:
        tree = process_tree(process.pid)[0 if count_root else 1 :]
        peak = max(peak, sum(anonymous_bytes(pid) for pid in tree))
        proportional = max(proportional, sum(proportional_anonymous_bytes(pid) for pid in tree))
        time.sleep(PERIOD_S)
    return MeasuredRun(process.returncode, time.perf_counter() - start, peak, proportional)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    run = peak_anonymous_memory(command)
    print(
        f"exit {run.returncode}, {run.wall_s:.2f} s, peak anonymous memory over the process "
        f"tree {run.peak_anonymous_bytes / 2**20:.1f} MiB (RssAnon summed, every "
        f"{PERIOD_S * 1000:.0f} ms), {run.peak_proportional_bytes / 2**20:.1f} MiB (Pss_Anon)"
    )
    raise SystemExit(run.returncode)


if __name__ == "__main__":
    main()
