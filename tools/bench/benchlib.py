# SPDX-License-Identifier: GPL-2.0
"""The parts the benchmark reports share (report.py, rocksdb_report.py,
sqlite_report.py): reading a run's directory, the number formats of the
tables, the targets' verdicts and the plot's gnuplot run."""
import csv
import os
import shutil
import subprocess
import sys


def load(d):
    """DIR/meta as a dict and DIR/results.csv as a list of rows."""
    meta = dict(l.rstrip("\n").split("=", 1)
                for l in open(os.path.join(d, "meta")) if "=" in l)
    rows = list(csv.DictReader(open(os.path.join(d, "results.csv"))))
    return meta, rows


def run_header(title, meta, name, key, full):
    """The first lines of a database lane's results.md: title, then the
    run's kernel, device, date, commit, the database's version (meta
    key) and the mode (full: what a full run's mode says)."""
    return ["# %s\n" % title,
            "| kernel | device | date | commit | %s | mode |" % name,
            "| --- | --- | --- | --- | --- | --- |",
            "| %s | %s | %s | %s | %s | %s |\n" % (
                meta.get("kernel", "?"), meta.get("device", "?"),
                meta.get("date", "?"), meta.get("commit", "?"),
                meta.get(key, "?"),
                "quick (timings meaningless)" if meta.get("quick") == "1"
                else full)]


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def rf(v):
    """A ratio, two decimals; – when it was not measured."""
    return "–" if v is None else "%.2f" % v


def fmt(v, unit=""):
    """A rate or a time, whole above 100; – when it was not measured."""
    if v is None:
        return "–"
    return ("%.0f" % v if v >= 100 else "%.1f" % v) + unit


def verdict(ok):
    """A target: pass, **miss**, or – when it could not be measured."""
    return "–" if ok is None else ("pass" if ok else "**miss**")


def targets_table(md, title):
    """Start the targets section of results.md, under title."""
    md.append(title)
    md.append("| target | measured | verdict |")
    md.append("| --- | --- | --- |")


def gnuplot_or_exit(what):
    """Return when gnuplot is there, else say so and end the report."""
    if not shutil.which("gnuplot"):
        print("report: no gnuplot, no %s (tools/install-deps)" % what,
              file=sys.stderr)
        sys.exit(0)


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
