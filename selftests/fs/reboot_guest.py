#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest side of selftests/fs/reboot_test.sh: builds a state on a mounted
memsnap filesystem in one boot and checks it in the next.

  reboot_guest.py populate MNT    clean case, boot 1 (then unmounted)
  reboot_guest.py check MNT       clean case, boot 2
  reboot_guest.py cutloop MNT N   power cut case, boot 1: iterate forever,
                                  printing POWER-CUT-NOW after N iterations
  reboot_guest.py cutcheck MNT    power cut case, boot 2 (after recovery)
  reboot_guest.py syncfs MNT N    syncfs case, boot 1: write N files with
                                  write(2) in a tree of directories, and a
                                  symlink, no fsync, print SYNC-NOW, syncfs
  reboot_guest.py synccheck MNT N syncfs case, boot 2: the whole tree with
                                  all N files whole, or nothing (one commit)

The power-cut loop records in $MSVM_RESULTS (9p, host-backed, fsynced)
the iteration it starts ("started") and, once every fsync of it has
returned, the iteration acknowledged ("acked").  Each iteration i:
  - creates n.<i> and unlinks n.<i-1>, renames cur.<i-1> to cur.<i>;
  - overwrites all of "data" (64 KiB) with the pattern of i, fsync;
  - appends record i (1000 bytes) to "log", fsync;
  - fsyncs the directory.
After the cut, with A the last acknowledged and L the last started
iteration: every page of "data" holds the pattern of one iteration d,
A <= d <= L (the commit= interval may commit part of a write that no
fsync covered yet, as any filesystem's writeback may); "log" holds
records 1..k in order, A <= k <= L, and may end in a part of record k+1
(k < L); the n.* files are
n.<j> or n.<j>,n.<j+1> (a prefix of the namespace operations) with
A <= j <= L; exactly one cur.<j>, A <= j <= L.
"""
import ctypes
import os
import stat
import sys
import time

PAGE = 4096


def pattern(tag, size):
    """Lines of 32 bytes naming @tag and their offset, cut to @size."""
    out = bytearray()
    off = 0
    while len(out) < size:
        out += (b"%-12s %018d\n" % (tag.encode()[:12], off))[:32]
        off += 32
    return bytes(out[:size])


def data_pattern(i):
    return pattern("iter%d" % i, 16 * PAGE)


def record(i):
    return (b"rec %08d " % i).ljust(999, b"r") + b"\n"


failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL: " + what, flush=True)


def write(path, data, off=0, sync=False, mode=0o644):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    os.pwrite(fd, data, off)
    if sync:
        os.fsync(fd)
    os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------- clean


def populate(mnt):
    p = lambda n: os.path.join(mnt, n)
    write(p("synced"), pattern("synced", 3 * PAGE + 100), sync=True)
    write(p("more"), pattern("more", 2 * PAGE), sync=True)
    write(p("more"), b"X" * 100)                        # not fsynced,
    write(p("more"), pattern("extra", 5000), 2 * PAGE)  # but file data
    write(p("unsynced"), pattern("unsynced", 10000))
    write(p("renamed"), pattern("renamed", 5000), sync=True)
    os.rename(p("renamed"), p("renamed2"))
    write(p("src"), pattern("src", 3000), sync=True)
    write(p("dst"), pattern("dst", 7000), sync=True)
    os.rename(p("src"), p("dst"))
    write(p("deleted"), pattern("deleted", PAGE), sync=True)
    os.unlink(p("deleted"))
    write(p("mode"), pattern("mode", 10), sync=True)
    os.chmod(p("mode"), 0o600)
    write(p("trunc"), pattern("trunc", 3 * PAGE), sync=True)
    os.truncate(p("trunc"), 5000)
    # Synced, then more data persisted by a second fsync.
    write(p("twice"), pattern("twice1", PAGE), sync=True)
    write(p("twice"), pattern("twice2", 3 * PAGE), sync=True)


def check_clean(mnt):
    p = lambda n: os.path.join(mnt, n)
    names = sorted(os.listdir(mnt))
    want = sorted(["synced", "more", "unsynced", "renamed2", "dst", "mode",
                   "trunc", "twice"])
    check(names == want, "files are %s, expected %s" % (names, want))
    expect = {
        "synced": pattern("synced", 3 * PAGE + 100),
        # The file API's data is written at unmount, fsynced or not.
        "more": b"X" * 100 + pattern("more", 2 * PAGE)[100:] +
        pattern("extra", 5000),
        "unsynced": pattern("unsynced", 10000),
        "renamed2": pattern("renamed", 5000),
        "dst": pattern("src", 3000),
        "mode": pattern("mode", 10),
        "trunc": pattern("trunc", 5000),
        "twice": pattern("twice2", 3 * PAGE),
    }
    for name, data in expect.items():
        if os.path.exists(p(name)):
            got = read(p(name))
            check(got == data, "%s: %d bytes, expected %d (%s)" %
                  (name, len(got), len(data),
                   "same size, different bytes" if len(got) == len(data)
                   else "size differs"))
    if os.path.exists(p("mode")):
        st = os.stat(p("mode"))
        check(stat.S_IMODE(st.st_mode) == 0o600,
              "mode: mode %o" % stat.S_IMODE(st.st_mode))


# ------------------------------------------------------------ power cut


def results(name):
    return os.path.join(os.environ["MSVM_RESULTS"], name)


def cutloop(mnt, marker_after):
    p = lambda n: os.path.join(mnt, n)
    started = os.open(results("started"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    acked = os.open(results("acked"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    dirfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    write(p("cur.0"), b"", sync=True)
    data = os.open(p("data"), os.O_RDWR | os.O_CREAT, 0o644)
    log = os.open(p("log"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    os.fsync(dirfd)
    i = 0
    while True:
        i += 1
        os.write(started, b"%d\n" % i)
        os.fsync(started)
        write(p("n.%d" % i), b"")
        if i > 1:
            os.unlink(p("n.%d" % (i - 1)))
        os.rename(p("cur.%d" % (i - 1)), p("cur.%d" % i))
        os.pwrite(data, data_pattern(i), 0)
        os.fsync(data)
        os.write(log, record(i))
        os.fsync(log)
        os.fsync(dirfd)
        os.write(acked, b"%d\n" % i)
        os.fsync(acked)
        if i == marker_after:
            print("POWER-CUT-NOW", flush=True)


def last_number(path):
    try:
        lines = read(path).split()
    except FileNotFoundError:
        return 0
    return int(lines[-1]) if lines else 0


def cutcheck(mnt):
    p = lambda n: os.path.join(mnt, n)
    a, last = last_number(results("acked")), last_number(results("started"))
    print("acknowledged %d, started %d" % (a, last))
    check(a >= 1, "no iteration acknowledged before the cut")

    got = read(p("data"))
    want = len(data_pattern(1))
    check(len(got) == want, "data: %d bytes, expected %d" % (len(got), want))
    seen = set()
    for o in range(0, min(len(got), want), PAGE):
        its = [i for i in range(max(a, 1), last + 1)
               if got[o:o + PAGE] == data_pattern(i)[o:o + PAGE]]
        if its:
            seen.add(its[-1])
        else:
            check(False, "data page %d is no iteration's pattern in %d..%d; "
                  "it starts %r" % (o // PAGE, a, last, got[o:o + 12]))
    print("data: iterations %s" % sorted(seen))

    got = read(p("log"))
    k = len(got) // 1000
    check(got[:k * 1000] == b"".join(record(i) for i in range(1, k + 1)),
          "log: records are not 1..%d" % k)
    rest = got[k * 1000:]
    check(not rest or (k < last and record(k + 1).startswith(rest)),
          "log: %d bytes after record %d are not the start of record %d" %
          (len(rest), k, k + 1))
    check(a <= k <= last, "log: %d records, acknowledged %d, started %d" %
          (k, a, last))

    names = os.listdir(mnt)
    ns = sorted(int(n[2:]) for n in names if n.startswith("n."))
    ok = (len(ns) == 1 or (len(ns) == 2 and ns[1] == ns[0] + 1)) and \
        a <= ns[0] <= last and ns[-1] <= last
    check(ok, "n.* files %s, acknowledged %d, started %d" % (ns, a, last))
    cur = [int(n[4:]) for n in names if n.startswith("cur.")]
    check(len(cur) == 1 and a <= cur[0] <= last,
          "cur.* files %s, acknowledged %d, started %d" % (cur, a, last))
    extra = [n for n in names if not n.startswith(("n.", "cur."))
             and n not in ("data", "log")]
    check(not extra, "unexpected files %s" % extra)


# --------------------------------------------------------------- syncfs


def sync_pattern(i):
    return pattern("sync%d" % i, 16 * PAGE + 100 * i)


def sync_name(i):
    """File i of the syncfs case: in one of four directories, two deep."""
    return os.path.join("t%d" % (i % 2), "d%d" % (i % 4), "f%03d" % i)


def syncfs(mnt, nfiles):
    for i in range(nfiles):
        os.makedirs(os.path.dirname(os.path.join(mnt, sync_name(i))),
                    exist_ok=True)
        write(os.path.join(mnt, sync_name(i)), sync_pattern(i))
    os.symlink(sync_name(0), os.path.join(mnt, "first"))
    print("SYNC-NOW", flush=True)
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    check(ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0, "syncfs failed")
    print("SYNCED", flush=True)
    time.sleep(120)


def synccheck(mnt, nfiles):
    names = sorted(os.path.relpath(os.path.join(d, f), mnt)
                   for d, _, files in os.walk(mnt) for f in files)
    want = sorted([sync_name(i) for i in range(nfiles)] + ["first"])
    if not names and not os.listdir(mnt):
        print("syncfs: none")
        return
    check(names == want, "files %s..., expected all %d or none" %
          (names[:5], nfiles))
    check(os.readlink(os.path.join(mnt, "first")) == sync_name(0),
          "the symlink does not point at the first file")
    for i in range(nfiles):
        got = read(os.path.join(mnt, sync_name(i)))
        check(got == sync_pattern(i), "%s: %d bytes, not its data" %
              (sync_name(i), len(got)))
    print("syncfs: all")


def main():
    cmd, mnt = sys.argv[1], sys.argv[2]
    if cmd == "populate":
        populate(mnt)
    elif cmd == "check":
        check_clean(mnt)
    elif cmd == "cutloop":
        cutloop(mnt, int(sys.argv[3]))
    elif cmd == "cutcheck":
        cutcheck(mnt)
    elif cmd == "syncfs":
        syncfs(mnt, int(sys.argv[3]))
    elif cmd == "synccheck":
        synccheck(mnt, int(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)
    if failures:
        sys.exit(1)
    print("%s: ok" % cmd)


if __name__ == "__main__":
    main()
