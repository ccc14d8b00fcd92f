#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""report.py DIR: results.md and PNG plots from DIR/results.csv and
DIR/meta (tools/bench/run).  Reports the targets as pass/miss; asserts
nothing."""
import os
import sys

from benchlib import fmt, gnuplot, gnuplot_or_exit, load, ratio, rf, \
    targets_table, verdict

d = sys.argv[1]
meta, rows = load(d)
V = {}
for r in rows:
    V[(r["section"], r["column"], r["x"], r["metric"])] = r["value"]


def num(*k):
    v = V.get(k)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def xval(x):
    m = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return float(x[:-1]) * m[x[-1]] if x and x[-1] in m else float(x)


def xs(section):
    return sorted({r["x"] for r in rows if r["section"] == section}, key=xval)


md = []
md.append("# memsnap benchmark\n")
md.append("| kernel | device | date | commit | mode |")
md.append("| --- | --- | --- | --- | --- |")
md.append("| %s | %s | %s | %s | %s |\n" % (
    meta.get("kernel", "?"), meta.get("device", "?"), meta.get("date", "?"),
    meta.get("commit", "?"),
    "quick (timings meaningless)" if meta.get("quick") == "1"
    else "full, %s iterations per cell" % meta.get("iterations", "?")))
md.append("Guest under TCG (%s guest CPUs, %s host CPUs): only ratios within "
          "this table carry over.  The module's CRC32C: %s (chosen at load, "
          "docs/design.md).\n" % (meta.get("cpus", "?"), meta.get("host_cpus", "?"),
                                  meta.get("crc32c", "?")))

RAW = ["raw_fua_qd", "raw_seq"]
EXT = ["ext4_pwrite", "ext4_batch", "ext4_msync"]
MS = ["memsnap_sync", "memsnap_async", "memsnap_uring", "memsnap_thread"]
sizes = xs("latency")

md.append("## 1. Persist latency by size (µs, median / p99)\n")
md.append("| pages | " + " | ".join(RAW + EXT + MS) + " |")
md.append("| ---" * (len(RAW + EXT + MS) + 1) + " |")
for n in sizes:
    md.append("| %s | " % n + " | ".join(
        "%s / %s" % (fmt(num("latency", c, n, "median")), fmt(num("latency", c, n, "p99")))
        for c in RAW + EXT + MS) + " |")
md.append("\nRatios of medians: memsnap columns to the better raw floor "
          "(min of raw_fua_qd, raw_seq); ext4 columns to memsnap_sync.\n")
md.append("| pages | floor µs | " + " | ".join(c + "/floor" for c in MS) + " | " +
          " | ".join(c + "/memsnap" for c in EXT) + " |")
md.append("| ---" * (len(MS + EXT) + 2) + " |")
floor = {}
for n in sizes:
    fl = [v for v in (num("latency", c, n, "median") for c in RAW) if v is not None]
    floor[n] = min(fl) if fl else None
    ms = num("latency", "memsnap_sync", n, "median")
    md.append("| %s | %s | " % (n, fmt(floor[n])) + " | ".join(
        rf(ratio(num("latency", c, n, "median"), floor[n])) for c in MS) + " | " +
        " | ".join(rf(ratio(num("latency", c, n, "median"), ms)) for c in EXT) + " |")

ph = [r for r in rows if r["section"] == "phases"]
if ph:
    have = {r["metric"] for r in ph}
    # The snapshot's and the IO's parts when the module splits them:
    # snapshot (under snap_lock) = wp + copy + the rest (page lookup,
    # bounce allocation); crc follows it outside the lock (it was a part
    # of snapshot before); io_data and io_record overlap (both from
    # submission).
    names = [k for k in ["lock_wait", "snapshot", "snapshot_wp", "snapshot_copy",
                         "snapshot_crc", "submit", "io", "io_data", "io_record",
                         "checkpoint"] if k in have]
    md.append("\nPer-phase time of a sync persist (µs, mean per persist, from the "
              "module's debugfs counters; snapshot_wp/copy are parts of snapshot, "
              "snapshot_crc follows it outside snap_lock, "
              "io_data/io_record the time from submission to the end of the data and "
              "of the record writes, parts of io that overlap):\n")
    md.append("| pages | total median | " + " | ".join(names) + " |")
    md.append("| ---" * (len(names) + 2) + " |")
    for n in xs("phases"):
        md.append("| %s | %s | " % (n, fmt(num("latency", "memsnap_sync", n, "median"))) +
                  " | ".join(fmt(num("phases", "memsnap_sync", n, k)) for k in names) + " |")
    mx = [k for k in names if k + "_max" in have]
    if mx:
        md.append("\nLargest single value of each phase over the same persists (µs), "
                  "and pages per data bio (contiguity of the allocation):\n")
        md.append("| pages | p99 total | " + " | ".join(k + " max" for k in mx) +
                  " | pages/bio |")
        md.append("| ---" * (len(mx) + 3) + " |")
        for n in xs("phases"):
            md.append("| %s | %s | " % (n, fmt(num("latency", "memsnap_sync", n, "p99"))) +
                      " | ".join(fmt(num("phases", "memsnap_sync", n, k + "_max"))
                                 for k in mx) +
                      " | %s |" % fmt(num("phases", "memsnap_sync", n, "pages_per_data_bio")))

md.append("\n## 2. Scaling: 1 dirty page, sparse region (µs)\n")
md.append("| region bytes | median | p99 | median / smallest region |")
md.append("| --- | --- | --- | --- |")
sc = xs("scaling")
base = num("scaling", "memsnap_sync", sc[0], "median") if sc else None
for s in sc:
    m = num("scaling", "memsnap_sync", s, "median")
    md.append("| %s | %s | %s | %s |" % (s, fmt(m), fmt(num("scaling", "memsnap_sync", s, "p99")),
                                         rf(ratio(m, base))))

md.append("\n## 3. Tracking overhead (ns per page, median)\n")
md.append("| mechanism | first write after reset | collect (reset + find) |")
md.append("| --- | --- | --- |")
for r in rows:
    if r["section"] == "tracking" and r["metric"] == "skip":
        md.append("| %s | SKIP: %s | |" % (r["column"], r["unit"]))
    elif r["section"] == "tracking" and r["metric"] == "write_per_page":
        c = r["column"]
        md.append("| %s | %s | %s |" % (c, fmt(num("tracking", c, r["x"], "write_per_page")),
                                       "–" if c == "anon" else
                                       fmt(num("tracking", c, r["x"], "collect_per_page"))))
md.append("\n(memsnap's collect is its whole persist, IO included.)\n")

md.append("## 4. Concurrency: MSNAP_THREAD, 16 pages per persist\n")
md.append("| threads | persists/s | pages/s |")
md.append("| --- | --- | --- |")
for t in xs("concurrency"):
    md.append("| %s | %s | %s |" % (t, fmt(num("concurrency", "memsnap_thread", t, "persists_per_s")),
                                   fmt(num("concurrency", "memsnap_thread", t, "pages_per_s"))))
st = {k: num("stall", c, "1024", k) for c, k in [("writer", "idle_p99"), ("writer", "busy_p99"),
                                                ("writer", "busy_max"), ("persist", "median")]}
md.append("\nWriter store latency (µs) while a 1024-page persist is in flight: "
          "p99 idle %s, p99 during %s, max during %s; the persist takes %s (median).\n" % (
              fmt(st["idle_p99"]), fmt(st["busy_p99"]), fmt(st["busy_max"]), fmt(st["median"])))
fw = num("stall", "writer", "1024", "fault_waits")
if fw is not None:
    md.append("Write faults that waited for a snapshot (snap_lock) during that run: %d, "
              "the longest wait %s µs; the longest snapshot %s µs.\n" % (
                  fw, fmt(num("stall", "writer", "1024", "fault_wait_max")),
                  fmt(num("stall", "persist", "1024", "snapshot_max"))))

md.append("## 5. Recovery: mount time (µs)\n")
md.append("| log bytes | records in log | crash mount | clean mount |")
md.append("| --- | --- | --- | --- |")
for r in rows:
    if r["section"] == "recovery" and r["column"] == "crash_mount" and r["metric"] == "time":
        l = r["x"]
        md.append("| %s | %s | %s | %s |" % (l, fmt(num("recovery", "crash_mount", l, "records")),
                                           fmt(num("recovery", "crash_mount", l, "time")),
                                           fmt(num("recovery", "clean_mount", l, "time"))))

# Targets (reported, never asserted).
targets_table(md, "\n## Targets\n")
worst = None
for n in sizes:
    r = ratio(num("latency", "memsnap_sync", n, "median"), floor[n])
    if r is not None and (worst is None or r > worst[1]):
        worst = (n, r)
md.append("| sync persist ≤ 1.3x floor at every N | worst %s at N=%s | %s |" % (
    rf(worst[1]) if worst else "–", worst[0] if worst else "–",
    verdict(None if worst is None else worst[1] <= 1.3)))
for n, want in (("64", 3.0), ("1024", 6.0), ("1", 1.0)):
    for c in ("ext4_msync", "ext4_pwrite"):
        r = ratio(num("latency", c, n, "median"), num("latency", "memsnap_sync", n, "median"))
        md.append("| %s ≥ %sx memsnap at N=%s | %s | %s |" % (
            c, want, n, rf(r), verdict(None if r is None else r >= want)))
if sc:
    r = ratio(num("scaling", "memsnap_sync", sc[-1], "median"), base)
    md.append("| 1 page in %s B region within 10%% of %s B | %s | %s |" % (
        sc[-1], sc[0], rf(r), verdict(None if r is None else r <= 1.1)))
if st["busy_p99"] is not None and st["median"]:
    md.append("| writers not stalled by a persist's IO | p99 %s µs vs persist %s µs | %s |" % (
        fmt(st["busy_p99"]), fmt(st["median"]), verdict(st["busy_p99"] < 0.1 * st["median"])))

open(os.path.join(d, "results.md"), "w").write("\n".join(md) + "\n")

# Plots.
gnuplot_or_exit("plots")


def dat(name, cols, section, xkeys, metric="median"):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write("x " + " ".join(cols) + "\n")
        for x in xkeys:
            f.write(x + " " + " ".join(
                fmt(num(section, c, x, metric)).replace("–", "NaN") for c in cols) + "\n")
    return p


kern = meta.get("kernel", "?")
term = "set terminal png size 640,420 font ',9' noenhanced\nset key left top\nset grid\n"
plots = []
if sizes:
    cols = RAW + EXT + MS
    p = dat("latency.dat", cols, "latency", sizes)
    plots.append("set output '%s/latency.png'\nset title 'persist latency, median (%s, TCG)'\n"
                 "set logscale xy\nset xlabel 'dirty 4 KiB pages'\nset ylabel 'µs'\n"
                 "plot for [i=2:%d] '%s' using 1:i with linespoints title columnheader(i)\n"
                 "unset logscale\n" % (d, kern, len(cols) + 1, p))
if sc:
    p = dat("scaling.dat", ["memsnap_sync"], "scaling", sc)
    plots.append("set output '%s/scaling.png'\nset title '1-page persist vs region size (%s, TCG)'\n"
                 "set logscale x\nset yrange [0:*]\nset xlabel 'region bytes'\nset ylabel 'µs'\n"
                 "plot '%s' using 1:2 with linespoints title 'median'\nunset logscale\n"
                 "set autoscale y\n" % (d, kern, p))
th = xs("concurrency")
if th:
    p = dat("concurrency.dat", ["memsnap_thread"], "concurrency", th, "pages_per_s")
    plots.append("set output '%s/concurrency.png'\nset title 'MSNAP_THREAD persists, 16 pages each (%s, TCG)'\n"
                 "set xlabel 'threads'\nset ylabel 'pages/s'\nset yrange [0:*]\n"
                 "plot '%s' using 1:2 with linespoints title 'pages/s'\nset autoscale y\n" % (d, kern, p))
rl = xs("recovery")
if rl:
    p = dat("recovery.dat", ["crash_mount", "clean_mount"], "recovery", rl, "time")
    plots.append("set output '%s/recovery.png'\nset title 'mount time, log half full (%s, TCG)'\n"
                 "set logscale x\nset xlabel 'log bytes'\nset ylabel 'µs'\nset yrange [0:*]\n"
                 "plot for [i=2:3] '%s' using 1:i with linespoints title columnheader(i)\n"
                 "unset logscale\nset autoscale y\n" % (d, kern, p))
gnuplot(term + "".join(plots))
