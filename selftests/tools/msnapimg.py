# SPDX-License-Identifier: GPL-2.0
"""Corrupt and extend memsnap images for format_test.sh.

Knows the version 2 layout (include/uapi/linux/memsnap.h) independently
of tools/lib, so that a bug in the C reader is not mirrored here.

  msnapimg.py IMG sb FIELD                     print a field of superblock A
  msnapimg.py IMG newest FIELD                 ... of the valid superblock
                                               with the higher generation
  msnapimg.py IMG flip BLOCK OFFSET            flip one bit, CRC left stale
  msnapimg.py IMG set BLOCK OFFSET FMT VALUE   write a field, CRC recomputed
  msnapimg.py IMG bit BLOCK 0|1                set or clear a data block's
                                               bit in the current bitmap
  msnapimg.py IMG addfile INO NAME SIZE PAGES  add a file to the checkpoint
                                               (in the root directory)
  msnapimg.py IMG addinode INO FIELD=VALUE...  add an inode without pages:
                                               mode (octal), name, parent,
                                               size, flags, link_target,
                                               rdev, uid, symlink (text;
                                               size follows unless given)
  msnapimg.py IMG iblock INO                   print the block of inode INO
                                               (the newest checkpoint's
                                               inode tree's one leaf)
  msnapimg.py IMG log SEQ POS ENTRY...         write a commit record (with
                                               the newest superblock's nonce)
  msnapimg.py layout                           the offsets this file uses
                                               (format_test.sh compares them
                                               with the header's offsetof)
      ENTRY: inode:INO:MODE:SIZE[:RDEV[:FLAGS]]  name:INO:NAME
             data:INO:INDEX:BLOCK  unlink:INO  trunc:INO:FIRST:SIZE
             dirent:INO:PARENT:NAME  link:INO:TARGET:PARENT:NAME
             symlink:INO:TARGET
      (DATA: the CRC of BLOCK as it is now)
  Without DIRS in the superblock, addfile and addinode leave parent 0
  (the reserved tail of the inode block zero), else parent defaults to 1.
"""
import os
import struct
import sys

BS = 4096
BITS = 8 * (BS - 32)
SB_FIELDS = {  # name: (offset, struct format)
    'magic': (0, '<Q'), 'crc': (8, '<I'), 'version': (12, '<I'),
    'compat': (16, '<Q'), 'ro_compat': (24, '<Q'), 'incompat': (32, '<Q'),
    'block_size': (120, '<I'), 'state': (124, '<I'), 'blocks': (128, '<Q'),
    'log_start': (136, '<Q'), 'log_blocks': (144, '<Q'),
    'bitmap_start': (152, '<Q'), 'bitmap_blocks': (160, '<Q'),
    'data_start': (168, '<Q'), 'generation': (176, '<Q'),
    'ckpt_seq': (184, '<Q'), 'log_head': (192, '<Q'),
    'inode_root': (200, '<Q'), 'inode_height': (208, '<I'),
    'bitmap_copy': (212, '<I'), 'next_ino': (216, '<Q'),
    'free_blocks': (224, '<Q'), 'inodes': (232, '<Q'),
    'mkfs_time': (240, '<Q'), 'ckpt_time': (248, '<Q'),
    'log_nonce': (256, '<Q'), 'error_time': (264, '<Q'),
    'error_code': (272, '<I'), 'reserved32': (276, '<I'),
}
# The fixed offsets node(), addfile() and the bitmap code use, by the
# header's struct and field names, for format_test.sh to check.
LAYOUT = dict([(('msnap_super', k), v[0]) for k, v in SB_FIELDS.items()] + [
    (('msnap_node', 'owner'), 8), (('msnap_node', 'level'), 32),
    (('msnap_node', 'used'), 36), (('msnap_node', 'slot'), 64),
    (('msnap_inode', 'ino'), 8), (('msnap_inode', 'mode'), 24),
    (('msnap_inode', 'size'), 40), (('msnap_inode', 'map_height'), 84),
    (('msnap_inode', 'map_root'), 88),
    (('msnap_inode', 'preferred_addr'), 96),
    (('msnap_inode', 'blocks'), 104), (('msnap_inode', 'name_len'), 112),
    (('msnap_inode', 'name'), 120), (('msnap_bitmap', 'bits'), 32),
    (('msnap_inode', 'flags'), 36), (('msnap_inode', 'uid'), 28),
    (('msnap_inode', 'parent'), 376), (('msnap_inode', 'link_target'), 384),
    (('msnap_inode', 'rdev'), 392), (('msnap_inode', 'symlink'), 400),
    (('msnap_inode', 'reserved'), 3472),
    (('msnap_entry_inode', 'rdev'), 76),
    (('msnap_entry_inode', 'preferred_addr'), 80),
    (('msnap_entry_dirent', 'parent'), 16),
    (('msnap_entry_dirent', 'name_len'), 24),
    (('msnap_entry_dirent', 'name'), 32),
    (('msnap_entry_link', 'target'), 16), (('msnap_entry_link', 'parent'), 24),
    (('msnap_entry_link', 'name_len'), 32), (('msnap_entry_link', 'name'), 40),
    (('msnap_entry_symlink', 'len'), 16),
    (('msnap_entry_symlink', 'target'), 24),
])
DIRS = 2  # MSNAP_FEATURE_INCOMPAT_DIRS
MAGIC = {0x31534e534d534e4d: 8}  # the superblock's crc is at 8, others at 4


def crc32c(data, table=[]):
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b'123456789') == 0xE3069283


class Image:
    def __init__(self, path):
        self.f = open(path, 'r+b')

    def read(self, blk):
        self.f.seek(blk * BS)
        return bytearray(self.f.read(BS))

    def write(self, blk, buf, fix_crc=True):
        if fix_crc:
            off = MAGIC.get(struct.unpack_from('<Q', buf, 0)[0], 4)
            struct.pack_into('<I', buf, off, 0)
            struct.pack_into('<I', buf, off, crc32c(bytes(buf)))
        self.f.seek(blk * BS)
        self.f.write(buf)

    def sb(self, name):
        off, fmt = SB_FIELDS[name]
        return struct.unpack_from(fmt, self.read(0), off)[0]

    def newest(self, name):
        """A field of the superblock a mount uses (CRC and magic good)."""
        best = None
        for blk in (0, 1):
            buf = self.read(blk)
            magic, crc = struct.unpack_from('<QI', buf, 0)
            struct.pack_into('<I', buf, 8, 0)
            if magic != 0x31534e534d534e4d or crc32c(bytes(buf)) != crc:
                continue
            gen = struct.unpack_from('<Q', buf, 176)[0]
            if best is None or gen > best[0]:
                best = (gen, buf)
        off, fmt = SB_FIELDS[name]
        return struct.unpack_from(fmt, best[1], off)[0]

    def set_sb(self, name, value):
        off, fmt = SB_FIELDS[name]
        buf = self.read(0)
        struct.pack_into(fmt, buf, off, value)
        self.write(0, buf)

    def set_bit(self, blk, on):
        b = blk - self.sb('data_start')
        bmb = (self.sb('bitmap_start') +
               self.sb('bitmap_copy') * self.sb('bitmap_blocks') + b // BITS)
        buf = self.read(bmb)
        byte = 32 + (b % BITS) // 8
        if on:
            buf[byte] |= 1 << (b % 8)
        else:
            buf[byte] &= ~(1 << (b % 8)) & 0xFF
        self.write(bmb, buf)

    def next_free(self):
        """The lowest data block that is free in the bitmap."""
        blk = self.sb('data_start')
        while True:
            b = blk - self.sb('data_start')
            bmb = (self.sb('bitmap_start') + self.sb('bitmap_copy') *
                   self.sb('bitmap_blocks') + b // BITS)
            if not self.read(bmb)[32 + (b % BITS) // 8] & (1 << (b % 8)):
                return blk
            blk += 1


def node(owner, level, slots):
    buf = bytearray(BS)
    struct.pack_into('<IIQQQII', buf, 0, 0x444e534d, 0, owner, 0, 1,
                     level, len(slots))
    for s, v in slots.items():
        struct.pack_into('<Q', buf, LAYOUT['msnap_node', 'slot'] + 8 * s, v)
    return buf


def addfile(img, ino, name, size, pages):
    """A file in the checkpoint: inode, one leaf page map, data pages."""
    alloc = []
    for _ in range(2 + pages):
        blk = img.next_free()
        img.set_bit(blk, True)
        alloc.append(blk)
    iblk, leaf, data = alloc[0], alloc[1], alloc[2:]
    for i, blk in enumerate(data):
        img.write(blk, bytearray(os.urandom(BS)), fix_crc=False)
    if pages:
        img.write(leaf, node(ino, 0, dict(enumerate(data))))
    else:
        img.set_bit(leaf, False)
    name = name.encode()
    buf = bytearray(BS)
    struct.pack_into('<IIQQIIIIQ', buf, 0, 0x4e49534d, 0, ino, 1,
                     0o100644, 0, 0, 0, size)
    struct.pack_into('<IQQQI', buf, LAYOUT['msnap_inode', 'map_height'],
                     1 if pages else 0,
                     leaf if pages else 0, 0, pages, len(name))
    name_at = LAYOUT['msnap_inode', 'name']
    buf[name_at:name_at + len(name)] = name
    if img.sb('incompat') & DIRS:
        struct.pack_into('<Q', buf, LAYOUT['msnap_inode', 'parent'], 1)
    img.write(iblk, buf)
    link_inode(img, ino, iblk, 2 + pages - (0 if pages else 1))


def link_inode(img, ino, iblk, nblocks):
    """Put inode block iblk in the inode tree's one leaf, count it."""
    root = img.sb('inode_root')
    tree = img.read(root)
    struct.pack_into('<Q', tree, LAYOUT['msnap_node', 'slot'] + 8 * ino, iblk)
    used = LAYOUT['msnap_node', 'used']
    struct.pack_into('<I', tree, used, struct.unpack_from('<I', tree, used)[0] + 1)
    img.write(root, tree)
    img.set_sb('inodes', img.sb('inodes') + 1)
    img.set_sb('free_blocks', img.sb('free_blocks') - nblocks)
    img.set_sb('next_ino', max(img.sb('next_ino'), ino + 1))


def addinode(img, ino, fields):
    """An inode without pages, any fields set (valid or not)."""
    f = dict(kv.split('=', 1) for kv in fields)
    iblk = img.next_free()
    img.set_bit(iblk, True)
    name = f.get('name', 'f%d' % ino).encode()
    target = f.get('symlink', '').encode()
    buf = bytearray(BS)
    struct.pack_into('<IIQQI', buf, 0, 0x4e49534d, 0, ino, 1,
                     int(f.get('mode', '100644'), 8))
    struct.pack_into('<I', buf, LAYOUT['msnap_inode', 'uid'],
                     int(f.get('uid', '0')))
    struct.pack_into('<I', buf, LAYOUT['msnap_inode', 'flags'],
                     int(f.get('flags', '0'), 0))
    struct.pack_into('<Q', buf, LAYOUT['msnap_inode', 'size'],
                     int(f.get('size', str(len(target)))))
    struct.pack_into('<I', buf, LAYOUT['msnap_inode', 'name_len'], len(name))
    at = LAYOUT['msnap_inode', 'name']
    buf[at:at + len(name)] = name
    parent = 1 if img.sb('incompat') & DIRS else 0
    struct.pack_into('<QQI', buf, LAYOUT['msnap_inode', 'parent'],
                     int(f.get('parent', str(parent))),
                     int(f.get('link_target', '0')),
                     int(f.get('rdev', '0'), 0))
    at = LAYOUT['msnap_inode', 'symlink']
    buf[at:at + len(target)] = target
    img.write(iblk, buf)
    link_inode(img, ino, iblk, 1)


def entry(img, spec):
    kind, ino, *a = spec.split(':')
    ino = int(ino)
    if kind == 'inode':
        rdev = int(a[2], 0) if len(a) > 2 else 0
        flags = int(a[3], 0) if len(a) > 3 else 0
        return struct.pack('<HHIQIIIIQQQQIIIIQ', 2, 88, 0, ino, int(a[0], 8),
                           0, 0, flags, int(a[1]), 0, 0, 0, 0, 0, 0, rdev, 0)
    if kind in ('dirent', 'link', 'symlink'):
        text = a[-1].encode()
        pad = (len(text) + 7) // 8 * 8
        text += bytes(pad - len(text))
        if kind == 'dirent':
            head = struct.pack('<QII', int(a[0]), len(a[-1]), 0)
            t = 6
        elif kind == 'link':
            head = struct.pack('<QQII', int(a[0]), int(a[1]), len(a[-1]), 0)
            t = 7
        else:
            head = struct.pack('<II', len(a[-1]), 0)
            t = 8
        return struct.pack('<HHIQ', t, 16 + len(head) + pad, 0, ino) + \
            head + text
    if kind == 'name':
        n = a[0].encode()
        pad = (len(n) + 7) // 8 * 8
        return struct.pack('<HHIQII', 3, 24 + pad, 0, ino, len(n), 0) + \
            n + bytes(pad - len(n))
    if kind == 'data':
        blk = int(a[1])
        img.f.seek(blk * BS)
        contents = img.f.read(BS)
        return struct.pack('<HHIQQQII', 1, 40, 0, ino, int(a[0]), blk,
                           crc32c(contents), 0)
    if kind == 'unlink':
        return struct.pack('<HHIQ', 4, 16, 0, ino)
    if kind == 'trunc':
        return struct.pack('<HHIQQQ', 5, 32, 0, ino, int(a[0]), int(a[1]))
    raise SystemExit('unknown entry ' + spec)


def log(img, seq, pos, specs):
    """A one-block record at log block pos."""
    payload = b''.join(entry(img, s) for s in specs)
    buf = bytearray(BS)
    struct.pack_into('<IIQIIIIQ', buf, 0, 0x474c534d, 0, seq, 0, 1,
                     len(specs), len(payload), img.newest('log_nonce'))
    buf[56:56 + len(payload)] = payload
    img.write(img.sb('log_start') + pos, buf)


def main(argv):
    if argv[1:] == ['layout']:
        for (st, field), off in LAYOUT.items():
            print(st, field, off)
        return
    img = Image(argv[1])
    cmd, a = argv[2], argv[3:]
    if cmd == 'sb':
        print(img.sb(a[0]))
    elif cmd == 'newest':
        print(img.newest(a[0]))
    elif cmd == 'flip':
        buf = img.read(int(a[0]))
        buf[int(a[1])] ^= 0x10
        img.write(int(a[0]), buf, fix_crc=False)
    elif cmd == 'set':
        buf = img.read(int(a[0]))
        struct.pack_into(a[2], buf, int(a[1]), int(a[3], 0))
        img.write(int(a[0]), buf)
    elif cmd == 'bit':
        img.set_bit(int(a[0]), a[1] == '1')
    elif cmd == 'addfile':
        addfile(img, int(a[0]), a[1], int(a[2]), int(a[3]))
    elif cmd == 'iblock':
        tree = img.read(img.newest('inode_root'))
        print(struct.unpack_from('<Q', tree, LAYOUT['msnap_node', 'slot'] +
                                 8 * int(a[0]))[0])
    elif cmd == 'addinode':
        addinode(img, int(a[0]), a[1:])
    elif cmd == 'log':
        log(img, int(a[0]), int(a[1]), a[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
