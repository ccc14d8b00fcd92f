#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""md_ok.py RESULTS.MD TITLE [LINE-START...]: exit 0 when a benchmark's
results.md is well formed: its first line starts with TITLE, it has the
run's header table (kernel, device, date, commit), every row of each
table has its header's number of cells, a line starts with each
LINE-START, and no "Failed runs" section is there; else fail with the
offending line.  Shared by the bench/*_test.sh checks."""
import sys

lines = open(sys.argv[1]).read().splitlines()
assert lines and lines[0].startswith(sys.argv[2]), lines[:1]
assert any("| kernel | device | date | commit |" in l for l in lines)
cols = None
for l in lines:
    if l.startswith("|"):
        c = l.count("|")
        if cols is None:
            cols = c
        assert c == cols, l
    else:
        cols = None
for w in sys.argv[3:]:
    assert any(l.startswith(w) for l in lines), w
assert not any("Failed runs" in l for l in lines)
