#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest side of make_corpus.sh: a small workload on a fresh memsnap
filesystem on /dev/nvme0n1, leaving images in OUTDIR: 'mounted.img'
(the device copied while mounted, after the last persist: checkpoint +
log records) and 'clean.img' (after unmount: a checkpoint, empty log)."""
import ctypes, ctypes.util, fcntl, mmap, os, struct, subprocess, sys

out = sys.argv[1]
top = os.environ['MEMSNAP_ROOT']
dev, mnt = '/dev/nvme0n1', '/tmp/msnap-corpus'
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
PERSIST = (3 << 30) | (64 << 16) | (0xE4 << 8) | 1
SET_ADDR = (1 << 30) | (32 << 16) | (0xE4 << 8) | 5


def sh(*a):
    subprocess.run(a, check=True)


def persist(fd, m, length, flags=0):
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    buf = bytearray(struct.pack('<8Q', 64, addr, length, flags, 0, 0, 0, 0))
    fcntl.ioctl(fd, PERSIST, buf)


sh(top + '/build/tools/mkfs.memsnap', '-f', '-q', dev)
os.makedirs(mnt, exist_ok=True)
sh('mount', '-t', 'memsnap', dev, mnt)
files = []
for i in range(6):
    fd = os.open('%s/f%d' % (mnt, i), os.O_RDWR | os.O_CREAT, 0o640)
    os.ftruncate(fd, (i + 1) * 3 * 4096)
    files.append(fd)
fcntl.ioctl(files[0], SET_ADDR, struct.pack('<4Q', 32, 0x7e0000000000, 0, 0))
for rnd in range(3):
    for i, fd in enumerate(files):
        size = os.fstat(fd).st_size
        m = mmap.mmap(fd, size, mmap.MAP_SHARED)
        for pg in range(rnd % 2, size // 4096, 2):
            m[pg * 4096:pg * 4096 + 8] = struct.pack('<Q', rnd << 32 | i << 16 | pg)
        persist(fd, m, size)
        del m
    if rnd == 0:
        os.rename(mnt + '/f1', mnt + '/renamed')
        os.unlink(mnt + '/f2')
        os.ftruncate(files[3], 4096)
        os.chmod(mnt + '/f4', 0o600)
        sh('sync')  # a checkpoint of all this; the later rounds stay in the log
os.fsync(files[5])
sh('dd', 'if=' + dev, 'of=' + out + '/mounted.img', 'bs=1M', 'status=none')
for fd in files:
    os.close(fd)
sh('umount', mnt)
sh(top + '/build/tools/fsck.memsnap', '-n', dev)
sh('dd', 'if=' + dev, 'of=' + out + '/clean.img', 'bs=1M', 'status=none')
print('corpus workload done')
