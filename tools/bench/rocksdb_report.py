#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""rocksdb_report.py DIR: results.md and rocksdb.png from DIR/results.csv
and DIR/meta (tools/bench/rocksdb).  Every column is reported as its
ratio to ext4 measured in the same boot; the issue's targets are
reported as pass/miss, never asserted."""
import os
import sys

from benchlib import fmt, gnuplot, gnuplot_or_exit, load, ratio, rf, \
    run_header, targets_table, verdict

d = sys.argv[1]
meta, rows = load(d)
rows = [r for r in rows if r["section"] == "rocksdb"]
V = {(r["column"], r["x"], r["metric"]): r["value"] for r in rows}

BASE = "ext4"
COLS = ["ext4_opts", "memsnap_wal", "memsnap_all"]
DESC = {
    "ext4": "database and WAL on ext4 (the baseline)",
    "ext4_opts": "ext4 with recycle_log_file_num=4, allow_fallocate=false "
                 "(and wal_recovery_mode=kSkipAnyCorruptedRecords, without which "
                 "RocksDB 7.8 turns recycling off)",
    "memsnap_wal": "WAL in the root of a memsnap mount (wal_dir), database on ext4",
    "memsnap_all": "database and WAL in the root of a memsnap mount",
}
WORK = ["fillrandom", "fillseq", "fillbatch", "overwrite", "readrandomwriterandom"]
threads = sorted({r["x"] for r in rows}, key=int)


def num(c, t, m):
    try:
        return float(V[(c, t, m)])
    except (KeyError, ValueError):
        return None


def ops(c, t, w):
    return num(c, t, w + ".ops_per_s")


md = run_header("memsnap RocksDB benchmark (db_bench)", meta, "RocksDB", "rocksdb",
                "full, --num=%s per thread (fillbatch %s)" % (
                    meta.get("num", "?"), meta.get("batch_num", "?")))
md.append("Debian's unmodified `db_bench --sync=true --value_size=100 --key_size=16`, "
          "a 128 KiB write buffer in every column; guest under TCG (%s guest CPUs, "
          "%s host CPUs), db_bench built with assertions: %s.  Only the ratios to "
          "`ext4`, measured in the same boot on the same drives, carry over.\n" % (
              meta.get("cpus", "?"), meta.get("host_cpus", "?"),
              meta.get("db_bench_assertions", "?")))
md.append("| column | layout |")
md.append("| --- | --- |")
for c in [BASE] + COLS:
    md.append("| %s | %s |" % (c, DESC[c]))

md.append("\n## Throughput: ratio of ops/sec to ext4\n")
md.append("| workload | threads | ext4 ops/s (µs/op) | " +
          " | ".join(c + "/ext4" for c in COLS) + " |")
md.append("| ---" * (len(COLS) + 3) + " |")
for w in WORK:
    for t in threads:
        b = ops(BASE, t, w)
        md.append("| %s | %s | %s (%s) | " % (w, t, fmt(b), fmt(num(BASE, t, w + ".us_per_op"))) +
                  " | ".join(rf(ratio(ops(c, t, w), b)) for c in COLS) + " |")
fails = [r for r in rows if r["metric"].startswith("failed_")]
if fails:
    md.append("\nFailed db_bench runs: " + ", ".join(
        "%s threads=%s %s (status %s)" % (r["column"], r["x"], r["metric"][7:], r["value"])
        for r in fails) + ".\n")

md.append("\n## WAL recycling (from RocksDB's LOG of fillrandom, overwrite and "
          "readrandomwriterandom)\n")
md.append("| threads | " + " | ".join("%s: option / logs reused" % c for c in [BASE] + COLS) + " |")
md.append("| ---" * (len(COLS) + 2) + " |")
for t in threads:
    md.append("| %s | " % t + " | ".join(
        "%s / %s" % tuple("–" if v is None else "%d" % v for v in (num(c, t, "recycle_log_file_num"), num(c, t, "logs_reused")))
        for c in [BASE] + COLS) + " |")

pc = [c for c in COLS if any(num(c, t, "persists") is not None for t in threads)]
if pc:
    md.append("\n## memsnap persists (module counters) in the fillseq, fillrandom, "
              "overwrite and readrandomwriterandom run\n")
    md.append("Writes are about 3.1 x --num x threads (readrandomwriterandom writes "
              "10%); with everything on memsnap, the persists include the SST, "
              "MANIFEST and directory syncs.\n")
    md.append("| threads | " + " | ".join("%s: persists / writes per persist" % c
                                         for c in pc) + " |")
    md.append("| ---" * (len(pc) + 1) + " |")
    n = float(meta.get("num", "0") or 0)
    for t in threads:
        cells = []
        for c in pc:
            p = num(c, t, "persists")
            cells.append("–" if p is None else "%d / %s" % (
                p, rf(ratio(3.1 * n * int(t), p))))
        md.append("| %s | " % t + " | ".join(cells) + " |")

targets_table(md, "\n## Targets (for a device-model lane; this is emulated NVMe)\n")
for t, want in (("1", 4.0), ("8", 2.0)):
    for c in ("memsnap_wal", "memsnap_all"):
        r = ratio(ops(c, t, "fillrandom"), ops(BASE, t, "fillrandom"))
        md.append("| fillrandom %s ≥ %.0fx ext4 at %s thread%s | %s | %s |" % (
            c, want, t, "" if t == "1" else "s", rf(r),
            verdict(None if r is None else r >= want)))

open(os.path.join(d, "results.md"), "w").write("\n".join(md) + "\n")

gnuplot_or_exit("plot")
p = os.path.join(d, "rocksdb.dat")
with open(p, "w") as f:
    for w in WORK:    # one gnuplot data block per workload
        f.write("# %s\nthreads " % w + " ".join(COLS) + "\n")
        for t in threads:
            f.write(t + " " + " ".join(rf(ratio(ops(c, t, w), ops(BASE, t, w)))
                                     .replace("–", "NaN") for c in COLS) + "\n")
        f.write("\n\n")
g = ["set terminal png size 1100,700 font ',9' noenhanced",
     "set output '%s/rocksdb.png'" % d,
     "set multiplot layout 2,3 title 'db_bench --sync=true, ops/sec ratio to ext4 "
     "(%s, TCG, emulated NVMe)'" % meta.get("kernel", "?"),
     "set grid", "set key below horizontal", "set xlabel 'threads'", "set ylabel 'x ext4'",
     "set xtics (%s)" % ", ".join(threads), "set yrange [0:*]",
     "set xrange [%s:%s]" % (int(threads[0]) - 0.5, int(threads[-1]) + 0.5) if threads else ""]
for i, w in enumerate(WORK):
    g.append("set title '%s'" % w)
    g.append("plot for [k=2:%d] '%s' index %d using 1:k with linespoints "
             "title columnheader(k), 1 with lines dt 2 lc 'black' title 'ext4'" % (
                 len(COLS) + 1, p, i))
g.append("unset multiplot")
gnuplot("\n".join(g) + "\n")
