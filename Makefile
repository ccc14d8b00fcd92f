# SPDX-License-Identifier: GPL-2.0
#
# memsnap top-level makefile.
#
#   make                 module (for KVER), library, tools and ports
#   make KVER=<release>  module for another installed kernel
#   make check           everything, then the selftests in a QEMU guest on
#                        every supported installed kernel, and the CI
#                        subset of the debug-kernel lane
#   make check-long      the long mode of every suite on every kernel
#                        (more power cuts, the big SQLite database, ...)
#   make check-debug     every suite on the debug kernel (KASAN, lockdep,
#                        DEBUG_VM, kmemleak; tools/debug-kernel)
#   make demo            the main job, in a QEMU guest
#   make bench, bench-rocksdb, bench-sqlite
#                        benchmarks in a QEMU guest (docs/performance.md)
#   make xfstests        fstests' CI list, fsx and fsstress on each kernel
#                        (XFSTESTS=full: the whole generic auto group)
#   make install         module, library, headers, tools, ports, man pages
#                        (PREFIX=/usr/local, DESTDIR honoured)
#
# When this directory is given to kbuild as M=, kbuild reads Kbuild, not
# this file.

VERSION		:= 0.1.0

# The running kernel may have no headers (and cannot load modules on the
# development machines): default to the newest installed kernel headers.
KVER		?= $(shell ls -d /lib/modules/*/build 2>/dev/null | \
			   cut -d/ -f4 | sort -V | tail -n 1)
KDIR		?= /lib/modules/$(KVER)/build
W		?= 1

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
MODDESTDIR	?= /lib/modules/$(KVER)/extra

BUILD		:= $(CURDIR)/build
MODDIR		:= $(BUILD)/mod/$(KVER)

export VERSION PREFIX LIBDIR INCLUDEDIR

.PHONY: all module modules-all lib tools ports selftests check check-quick check-long demo \
	check-debug debug-kernel \
	install install-module install-lib install-tools install-ports \
	dkms-src deps bench bench-rocksdb bench-sqlite xfstests \
	clean distclean

all: module lib tools ports

deps:
	@tools/install-deps --check || tools/install-deps

# Build out of tree in build/mod/<release>/ through a tree of symlinks, so
# that modules for several kernels can coexist.
module:
	@test -n "$(KVER)" -a -d "$(KDIR)" || \
		{ echo "no kernel headers for '$(KVER)': run tools/install-deps" >&2; exit 1; }
	@tools/mkmodtree $(MODDIR) kmod
	$(MAKE) -C $(KDIR) M=$(MODDIR) W=$(W) CONFIG_DEBUG_INFO_BTF_MODULES= modules
	@echo "module: $(MODDIR)/kmod/memsnap.ko"

modules-all:
	@for k in $$(tools/kernels); do \
		$(MAKE) --no-print-directory module KVER=$$k || exit 1; \
	done

lib:
	$(MAKE) -C libmemsnap

tools:
	$(MAKE) -C tools

# Database ports built on libmemsnap: the SQLite VFS (docs/sqlite.md).
ports: lib
	$(MAKE) -C ports/sqlite

selftests: lib ports
	$(MAKE) -C selftests

check: deps
	@tools/check

check-quick: deps
	@tools/check --quick

check-long: deps
	@tools/check --long

check-debug: deps
	@tools/check --kernel debug

debug-kernel: deps
	@tools/debug-kernel

demo: deps
	@tools/demo

bench: deps lib tools
	@for k in $${KERNEL:-$$(tools/kernels)}; do tools/bench/run --kernel $$k || exit 1; done

# RocksDB's db_bench on ext4 and memsnap (docs/performance.md).
bench-rocksdb: deps tools
	@for k in $${KERNEL:-$$(tools/kernels)}; do tools/bench/rocksdb --kernel $$k || exit 1; done

# SQLite on ext4 (WAL, DELETE) and on memsnap (unmodified, the VFS)
# (docs/performance.md, "SQLite").
bench-sqlite: deps lib tools ports
	@for k in $${KERNEL:-$$(tools/kernels)}; do tools/bench/sqlite --kernel $$k || exit 1; done

# fstests ("xfstests", third-party, unpacked from ../shared/third_party):
# the CI list and fsx/fsstress on each supported kernel; XFSTESTS=full for
# the whole generic "auto" group (docs/testing.md, "xfstests").
xfstests: deps tools
	@rc=0; for k in $${KERNEL:-$$(tools/kernels)}; do \
		tools/xfstests --$(if $(filter full,$(XFSTESTS)),full,quick) --kernel $$k; \
		s=$$?; [ $$s = 77 ] && exit 0; [ $$s = 0 ] || rc=1; \
	done; exit $$rc

install: install-module install-lib install-tools install-ports

install-module: module
	install -D -m 0644 $(MODDIR)/kmod/memsnap.ko \
		$(DESTDIR)$(MODDESTDIR)/memsnap.ko
	@if [ -z "$(DESTDIR)" ]; then depmod -a $(KVER); fi

install-lib: lib
	$(MAKE) -C libmemsnap install
	install -D -m 0644 include/uapi/linux/memsnap.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/memsnap.h

install-tools: tools
	$(MAKE) -C tools install

install-ports: ports
	$(MAKE) -C ports/sqlite install

# Copy the module sources where dkms(8) looks for them:
#   make dkms-src && dkms install memsnap/$(VERSION)
dkms-src:
	install -d $(DESTDIR)/usr/src/memsnap-$(VERSION)
	cp -r Kbuild dkms.conf kmod include $(DESTDIR)/usr/src/memsnap-$(VERSION)/

clean:
	rm -rf $(BUILD)/mod $(BUILD)/selftests
	$(MAKE) -C libmemsnap clean
	$(MAKE) -C tools clean
	$(MAKE) -C ports/sqlite clean
	$(MAKE) -C selftests clean

distclean: clean
	rm -rf $(BUILD)
