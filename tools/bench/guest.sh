#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# guest.sh OUTDIR QUICK: the benchmark suite, run in one guest boot by
# tools/bench/run on the emulated NVMe drive /dev/nvme0n1 (reformatted
# between phases: raw, then ext4, then memsnap).  Appends rows
# "section,column,x,metric,value,unit" to OUTDIR/results.csv and
# "key=value" lines to OUTDIR/meta.
set -eu
out=$1 quick=$2
top=$MEMSNAP_ROOT
mb=$out/msbench
mkfs=$top/build/tools/mkfs.memsnap
dev=/dev/nvme0n1
csv=$out/results.csv

if [ "$quick" = 1 ]; then
	sizes="1 16" iters=3 scale="1048576 68719476736"
	titers=2 tpages=16 csecs=0.2 threads="1 2" siters=1 logs="1M"
	export MSBENCH_REGION=$((16 << 20))
else
	sizes="1 4 16 64 256 1024" iters=100
	scale="1048576 1073741824 68719476736"
	titers=20 tpages=256 csecs=3 threads="1 2 4 8" siters=10
	logs="1M 4M 16M"
fi

row() { echo "$1,$2,$3,$4,$5,$6" >> "$csv"; }
# lat SECTION COLUMN X "median p99": two rows
lat() {
	local m=${4% *} p=${4#* }
	row "$1" "$2" "$3" median "$m" us
	row "$1" "$2" "$3" p99 "$p" us
}
step() { echo "bench: $(cut -d" " -f1 /proc/uptime) $*" >&2; }

{
	echo "kernel=$(uname -r)"
	echo "device=$(cat /sys/block/nvme0n1/device/model 2>/dev/null | xargs) \
$(($(cat /sys/block/nvme0n1/size) / 2048)) MiB, $(cat /sys/block/nvme0n1/queue/write_cache)"
	echo "cpus=$(nproc)"
	echo "quick=$quick"
	echo "iterations=$iters"
	echo "crc32c=$(cat /sys/module/memsnap/parameters/crc32c 2>/dev/null || echo unknown)"
} >> "$out/meta"

# fio_lat ARGS...: "median_us p99_us" of the total (submit to completion)
# latency; with a batch submitted and reaped at once, that of the batch.
fio_lat() {
	fio --output-format=json --name=b --filename=$dev --ioengine=io_uring \
		--direct=1 --sync=dsync --size=${MSBENCH_REGION:-268435456} --norandommap --randrepeat=0 \
		--rw=randwrite --lat_percentiles=1 "$@" | python3 -c '
import json, sys
w = json.load(sys.stdin)["jobs"][0]["write"]["lat_ns"]["percentile"]
print("%.1f %.1f" % (w["50.000000"] / 1e3, w["99.000000"] / 1e3))'
}

# 1. Raw device floor.
for n in $sizes; do
	step "raw N=$n"
	lat latency raw_fua_qd "$n" "$(fio_lat --bs=4k --iodepth="$n" \
		--iodepth_batch_submit="$n" --iodepth_batch_complete_min="$n" \
		--number_ios=$((n * iters)))"
	lat latency raw_seq "$n" "$(fio_lat --bs=$((n * 4))k --iodepth=1 \
		--number_ios="$iters")"
done

# ext4 on the same drive.
mkdir -p /tmp/e /tmp/m
mkfs.ext4 -F -q $dev
mount -t ext4 $dev /tmp/e
for n in $sizes; do
	step "ext4 N=$n"
	for m in pwrite batch msync; do
		lat latency "ext4_$m" "$n" "$($mb lat $m /tmp/e/region "$n" "$iters")"
	done
done
umount /tmp/e

# memsnap on the same drive.  Per-phase times of the sync persists come
# from the module's debugfs counters, when it has them: the mean per
# persist of each phase (a difference of the cumulative counters) and,
# when the counters can be reset (writing to the file), the largest.
$mkfs -f -q $dev
mount -t memsnap $dev /tmp/m
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
stats=/sys/kernel/debug/memsnap/nvme0n1/stats
# phases N: CSV rows from the counters' change since /tmp/st0
phases() {
	awk -v n="$1" 'FNR == NR { a[$1] = $2; next }
		{ d[$1] = $2 - a[$1]; b[$1] = $2 }
		END { if (d["persists"] < 1) exit
			split("lock_wait snapshot snapshot_wp snapshot_copy snapshot_crc " \
			      "submit io io_data io_record checkpoint", k)
			for (i = 1; i in k; i++) {
				if (!((k[i] "_ns") in d))
					continue
				printf "phases,memsnap_sync,%s,%s,%.1f,us\n", n, k[i],
					d[k[i] "_ns"] / d["persists"] / 1000
				m = k[i] "_max_ns"
				if (m in a && a[m] == 0)	# reset worked
					printf "phases,memsnap_sync,%s,%s_max,%.1f,us\n",
						n, k[i], b[m] / 1000
			}
			if ("data_bios" in d)
				printf "phases,memsnap_sync,%s,pages_per_data_bio,%.1f,count\n",
					n, d["pages"] / (d["data_bios"] ? d["data_bios"] : 1) }' \
		/tmp/st0 $stats
}
for n in $sizes; do
	step "memsnap N=$n"
	for m in sync async uring thread; do
		if [ "$m" = sync ] && [ -r $stats ]; then
			echo 0 2>/dev/null > $stats || true
			cp $stats /tmp/st0
		fi
		lat latency "memsnap_$m" "$n" "$($mb lat $m /tmp/m/region "$n" "$iters")"
		[ "$m" = sync ] && [ -r $stats ] || continue
		phases "$n" >> "$csv"
	done
done
rm -f /tmp/m/region

# 2. Scaling with region size.
for s in $scale; do
	step "scaling $s"
	lat scaling memsnap_sync "$s" "$($mb lat sync /tmp/m/sparse-$s 1 "$iters" "$s")"
	rm -f /tmp/m/sparse-$s
done

# 3. Tracking overhead.
for m in anon memsnap softdirty uffd; do
	step "tracking $m"
	r=$($mb track $m "$tpages" "$titers" /tmp/m/track)
	case $r in
	SKIP*)	row tracking "$m" "$tpages" skip 0 "${r#SKIP }" ;;
	*)	row tracking "$m" "$tpages" write_per_page "${r% *}" ns
		row tracking "$m" "$tpages" collect_per_page "${r#* }" ns ;;
	esac
done
rm -f /tmp/m/track

# 4. Concurrency.
for t in $threads; do
	step "concurrency $t"
	r=$($mb conc /tmp/m/conc "$t" 16 "$csecs")
	row concurrency memsnap_thread "$t" persists_per_s "${r% *}" 1/s
	row concurrency memsnap_thread "$t" pages_per_s "${r#* }" 1/s
	rm -f /tmp/m/conc
done
step "writers during a 1024-page persist"
[ ! -r $stats ] || echo 0 2>/dev/null > $stats || true
r=$($mb stall /tmp/m/stall 1024 "$siters")
set -- $r
row stall writer 1024 idle_p99 "$1" us
row stall writer 1024 busy_p99 "$2" us
row stall writer 1024 busy_max "$3" us
row stall persist 1024 median "$4" us
# Write faults that waited for a snapshot (snap_lock), and the longest
# wait and snapshot, when the module counts them (counters reset above).
if [ -r $stats ] && grep -q '^fault_waits ' $stats; then
	awk '{ v[$1] = $2 }
		END { printf "stall,writer,1024,fault_waits,%d,count\n", v["fault_waits"]
			printf "stall,writer,1024,fault_wait_max,%.1f,us\n", v["fault_wait_max_ns"] / 1000
			printf "stall,persist,1024,snapshot_max,%.1f,us\n", v["snapshot_max_ns"] / 1000 }' \
		$stats >> "$csv"
fi
rm -f /tmp/m/stall
umount /tmp/m

# 5. Recovery: crash copies of a loop image with a log half full (a
# checkpoint starts past half), mounted again.
ms() { echo $(($(date +%s%N) / 1000)); }
for l in $logs; do
	step "recovery log $l"
	img=/tmp/r.img
	rm -f $img /tmp/c.img
	truncate -s 192M $img
	$mkfs -f -q --log-size "$l" $img
	lb=$(( $(numfmt --from=iec "$l") / 4096 ))
	ld=$(losetup -f --show $img)
	mount -t memsnap "$ld" /tmp/m
	$mb fill /tmp/m/fill $((lb / 2 - 16))
	cp --sparse=always $img /tmp/c.img	# the power cut
	umount /tmp/m
	t=$(ms); mount -t memsnap "$ld" /tmp/m; t=$(($(ms) - t))
	umount /tmp/m
	losetup -d "$ld"
	row recovery clean_mount $((lb * 4096)) time "$t" us
	ld=$(losetup -f --show /tmp/c.img)
	t=$(ms); mount -t memsnap "$ld" /tmp/m; t=$(($(ms) - t))
	umount /tmp/m
	losetup -d "$ld"
	row recovery crash_mount $((lb * 4096)) time "$t" us
	row recovery crash_mount $((lb * 4096)) records $((lb / 2 - 16)) count
	rm -f $img /tmp/c.img
done
echo "bench: done" >&2
