#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""img2seed.py IMAGE SEED [FLAGS]: write a memsnap image as a
format_fuzz input (see format_fuzz.c): its non-zero blocks, trailing
zeroes trimmed."""
import sys

img, seed = sys.argv[1], sys.argv[2]
flags = int(sys.argv[3]) if len(sys.argv) > 3 else 0
data = open(img, 'rb').read()
mib = len(data) >> 20
assert 4 <= mib <= 64 and len(data) // 4096 <= 65536, 'image must be 4..64 MiB'
out = bytearray([flags, mib])
for i in range(len(data) // 4096):
    b = data[i * 4096:(i + 1) * 4096].rstrip(b'\0')
    if b:
        out += i.to_bytes(2, 'little') + len(b).to_bytes(2, 'little') + b
open(seed, 'wb').write(out)
