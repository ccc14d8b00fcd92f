#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""sqlite_report.py DIR: results.md and sqlite.png from DIR/results.csv
and DIR/meta (tools/bench/sqlite).  Every column is reported as its
ratio of transactions per second to WAL with synchronous=FULL on ext4,
measured in the same boot on the same drive; the issue's targets are
reported as pass/miss, never asserted."""
import os
import sys

from benchlib import fmt, gnuplot, gnuplot_or_exit, load, ratio, rf, \
    run_header, targets_table, verdict

d = sys.argv[1]
meta, rows = load(d)
rows = [r for r in rows if r["section"] == "sqlite"]
# One value per round (tools/bench/sqlite-guest.sh runs each cell in
# every column ROUNDS times, in the order of the rounds).
V = {}
for r in rows:
    V.setdefault((r["column"], r["x"], r["metric"]), []).append(r["value"])

BASE = "wal_full"
COLS = ["wal_normal", "delete_full", "unix_memory", "vfs_full", "vfs_normal"]
MEMSNAP = ["unix_memory", "vfs_full", "vfs_normal"]
DESC = {
    "wal_full": "ext4, unix VFS, `journal_mode=WAL`, `synchronous=FULL` (the baseline)",
    "wal_normal": "ext4, unix VFS, `journal_mode=WAL`, `synchronous=NORMAL` "
                  "(durable at the next checkpoint: the peer of `vfs_normal`)",
    "delete_full": "ext4, unix VFS, `journal_mode=DELETE`, `synchronous=FULL` "
                   "(SQLite's defaults)",
    "unix_memory": "memsnap mounted `-o filedata=fsync`, unmodified SQLite (unix VFS), "
                   "`journal_mode=MEMORY`, `cache_spill=OFF`, `synchronous=FULL`",
    "vfs_full": "memsnap, the memsnap VFS, `synchronous=FULL` (each commit one "
                "synchronous persist)",
    "vfs_normal": "memsnap, the memsnap VFS, `synchronous=NORMAL` (each commit one "
                  "`MSNAP_ASYNC` persist)",
}
FILLS = ["fillseq", "fillrand"]


def xs(w):
    return sorted({r["x"] for r in rows if r["metric"].startswith(w + ".")}, key=int)


WORK = [(w, x) for w in FILLS for x in xs(w)] + \
       [(w, x) for w in ("readmix", "tatp") for x in xs(w)]


def median(v):
    v = sorted(v)
    n = len(v)
    return None if not n else (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2)


def vals(c, x, m):
    try:
        return [float(v) for v in V.get((c, x, m), [])]
    except ValueError:
        return []


def num(c, x, m):
    return median(vals(c, x, m))


def tps(c, w, x):
    return num(c, x, w + ".txn_per_s")


def ratios(c, b, w, x):
    """The ratios of column c to column b, round by round (of the
    medians when a failed run left the rounds unpaired)."""
    a, z = vals(c, x, w + ".txn_per_s"), vals(b, x, w + ".txn_per_s")
    if a and len(a) == len(z) and all(z):
        return [p / q for p, q in zip(a, z)]
    r = ratio(median(a), median(z))
    return [] if r is None else [r]


def mratio(c, b, w, x):
    return median(ratios(c, b, w, x))


def rspread(c, b, w, x):
    """The median ratio, with its range over the rounds."""
    r = ratios(c, b, w, x)
    if not r:
        return "–"
    if len(r) == 1:
        return "%.2f" % r[0]
    return "%.2f (%.2f–%.2f)" % (median(r), min(r), max(r))


def label(w, x):
    if w in FILLS:
        return "%s row%s" % (x, "" if x == "1" else "s")
    if w == "readmix":
        return "%s%% reads" % x
    return "%s subscribers" % x


md = run_header("memsnap SQLite benchmark", meta, "SQLite", "sqlite",
                "full, %s rounds" % meta.get("rounds", "?"))
md.append("Debian's libsqlite3 with `tools/bench/sqlbench` (C, one connection, "
          "prepared statements; integer keys, 128-byte values).  Transactions per "
          "cell (WORKLOAD:X:COUNT[:ROWS]): %s.  Guest under TCG (%s guest CPUs, %s "
          "host CPUs, host load average %s before the run and %s after): only the "
          "ratios to `%s`, measured in the same boot on the same drive, carry over.  "
          "Every run's database was checked afterwards (integrity_check and every "
          "row); a failed run is listed below and has no figures.\n" % (
              meta.get("cells", "?"), meta.get("cpus", "?"), meta.get("host_cpus", "?"),
              meta.get("host_load_before", "?"), meta.get("host_load_after", "?"), BASE))
md.append("| column | configuration |")
md.append("| --- | --- |")
for c in [BASE] + COLS:
    md.append("| %s | %s |" % (c, DESC[c]))

md.append("\n## Transactions per second: ratio to %s\n" % BASE)
md.append("Each cell: the median over the rounds of the column's ratio to `%s` in "
          "the same round, with the range in parentheses; `%s`'s own median "
          "rate and time per transaction for scale.\n" % (BASE, BASE))
md.append("| workload | size | %s txn/s (µs/txn) | " % BASE +
          " | ".join(c + "/" + BASE for c in COLS) + " | vfs_normal/wal_normal |")
md.append("| ---" * (len(COLS) + 4) + " |")
for w, x in WORK:
    b = tps(BASE, w, x)
    md.append("| %s | %s | %s (%s) | " % (w, label(w, x), fmt(b),
                                         fmt(num(BASE, x, w + ".us_per_txn"))) +
              " | ".join(rspread(c, BASE, w, x) for c in COLS) +
              " | %s |" % rspread("vfs_normal", "wal_normal", w, x))
fails = [r for r in rows if r["metric"].startswith("failed_")]
if fails:
    md.append("\n**Failed runs** (the database check or SQLite failed; see runs/): " +
              ", ".join("%s %s %s (status %s)" % (r["column"], r["metric"][7:], r["x"],
                                                  r["value"]) for r in fails) + ".\n")

pc = [c for c in MEMSNAP if any(num(c, x, w + ".persists_per_txn") is not None
                                for w, x in WORK)]
if pc:
    md.append("\n## memsnap persists in the timed part (module counters)\n")
    md.append("| workload | size | " + " | ".join(
        "%s: persists/txn, pages/persist" % c for c in pc) + " |")
    md.append("| ---" * (len(pc) + 2) + " |")
    for w, x in WORK:
        cells = []
        for c in pc:
            p = num(c, x, w + ".persists_per_txn")
            g = num(c, x, w + ".pages_per_persist")
            cells.append("–" if p is None else "%.2f, %s" % (p, rf(g)))
        md.append("| %s | %s | " % (w, label(w, x)) + " | ".join(cells) + " |")

if any(num("vfs_full", x, w + ".persist_io_us") is not None for w, x in WORK):
    md.append("\n## Where a commit's time goes (medians over the rounds)\n")
    md.append("`wal_normal` syncs nothing at commit: its time per transaction is about "
              "SQLite's own work, which every column does too.  The persist phases "
              "are the module's counters per persist of `vfs_full` (synchronous); "
              "the CRC32Cs follow the snapshot, io runs from submission to the end "
              "of the record's write.\n")
    ph = ["lock_wait", "snapshot", "snapshot_crc", "submit", "io"]
    md.append("| workload | size | wal_normal µs/txn | vfs_full µs/txn | wal_full µs/txn | "
              "pages/persist | " + " | ".join(p + " µs" for p in ph) + " |")
    md.append("| ---" * (len(ph) + 6) + " |")
    for w, x in WORK:
        md.append("| %s | %s | %s | %s | %s | %s | " % (
            w, label(w, x), fmt(num("wal_normal", x, w + ".us_per_txn")),
            fmt(num("vfs_full", x, w + ".us_per_txn")),
            fmt(num(BASE, x, w + ".us_per_txn")),
            rf(num("vfs_full", x, w + ".pages_per_persist"))) +
            " | ".join(fmt(num("vfs_full", x, w + ".persist_%s_us" % p)) for p in ph) + " |")

targets_table(md, "\n## Targets (issue 18: for a device-model lane; this is emulated NVMe)\n")
for x, want in (("1", 5.0), ("256", 2.0)):
    for c in ("vfs_full", "vfs_normal"):
        for w in FILLS:
            r = mratio(c, BASE, w, x)
            md.append("| %s %s ≥ %.0fx %s at %s | %s | %s |" % (
                w, c, want, BASE, label(w, x), rf(r),
                verdict(None if r is None else r >= want)))

open(os.path.join(d, "results.md"), "w").write("\n".join(md) + "\n")

gnuplot_or_exit("plot")
p = os.path.join(d, "sqlite.dat")
with open(p, "w") as f:
    for w in FILLS:    # gnuplot data blocks 0 and 1: ratio by rows per transaction
        f.write("# %s\nrows " % w + " ".join(COLS) + "\n")
        for x in xs(w):
            f.write(x + " " + " ".join(rf(mratio(c, BASE, w, x))
                                     .replace("–", "NaN") for c in COLS) + "\n")
        f.write("\n\n")
    f.write("# mixes\nworkload " + " ".join(COLS) + "\n")    # block 2
    for w, x in WORK:
        if w not in FILLS:
            f.write(w + " " + " ".join(rf(mratio(c, BASE, w, x))
                                      .replace("–", "NaN") for c in COLS) + "\n")
g = ["set terminal png size 1200,450 font ',9' noenhanced",
     "set output '%s/sqlite.png'" % d,
     "set multiplot layout 1,3 title 'SQLite, transactions/s ratio to %s "
     "(%s, TCG, emulated NVMe)'" % (BASE, meta.get("kernel", "?")),
     "set grid", "set key top right", "set ylabel 'x %s (log)'" % BASE,
     # wal_normal, which syncs nothing, is 10-50x: a log scale keeps the
     # columns near 1x apart.
     "set logscale y", "set yrange [0.1:100]"]
for i, w in enumerate(FILLS):
    g += ["set title '%s'" % w, "set logscale x 2", "set xlabel 'rows per transaction'",
          "set xtics (%s)" % ", ".join(xs(w)) if xs(w) else "set xtics auto",
          "set xrange [0.7:370]",
          "plot for [k=2:%d] '%s' index %d using 1:k with linespoints "
          "title columnheader(k), 1 with lines dt 2 lc 'black' title '%s'" % (
              len(COLS) + 1, p, i, BASE)]
g += ["unset logscale x", "set xrange [*:*]", "set xtics auto", "unset xlabel",
      "set title 'read-mostly mix (90% reads), TATP'",
      "set style data histograms", "set style histogram clustered gap 1",
      "set style fill solid 0.8 border -1",
      "plot for [k=2:%d] '%s' index 2 using k:xtic(1) title columnheader(k), "
      "1 with lines dt 2 lc 'black' notitle" % (len(COLS) + 1, p),
      "unset multiplot"]
gnuplot("\n".join(g) + "\n")
