#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""csv_ok.py RESULTS.CSV: exit 0 when a benchmark's results.csv is well
formed (the header section,column,x,metric,value,unit; at least one row;
6 fields each, the first four set, x and value numbers), else fail with
the offending row.  Shared by the bench/*_test.sh checks."""
import csv
import sys

rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["section", "column", "x", "metric", "value", "unit"], rows[0]
assert len(rows) > 1
for r in rows[1:]:
    assert len(r) == 6 and all(r[:4]), r
    float(r[2]); float(r[4])
