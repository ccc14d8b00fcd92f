// SPDX-License-Identifier: GPL-2.0
/*
 * rdb_crash: the workload and the checker of the RocksDB power-cut test
 * (crash_test.sh), against Debian's unmodified librocksdb.
 *
 *   rdb_crash run DBDIR WALDIR ACKFILE CYCLE MARK_AFTER
 *	opens (creating) the database in DBDIR with its write-ahead log in
 *	WALDIR and a small memtable (so memtables flush, SST files are
 *	written and compacted and WAL files are switched and deleted during
 *	the run), then writes with WriteOptions::sync: key i gets the value
 *	of (i, CYCLE), one Put or a batch of 1 to 8 keys at a time, i going
 *	on from the largest key ACKFILE names.  After each write returns,
 *	"first last CYCLE" is appended to ACKFILE and fsynced.  Prints
 *	POWER-CUT-NOW after MARK_AFTER writes and goes on until the power is
 *	cut (or for 100000 writes).
 *   rdb_crash check DBDIR WALDIR ACKFILE
 *	opens the database (RocksDB recovers it), and every key of every
 *	complete ACKFILE line must hold the value of the cycle that wrote
 *	it last.  Prints "checked N keys"; exit 1 on a missing or wrong key.
 */
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

using rocksdb::DB;
using rocksdb::Status;

static std::string key_of(unsigned long i)
{
	char k[32];

	snprintf(k, sizeof(k), "key%012lu", i);
	return k;
}

/* 100 bytes derived from the key and the cycle that wrote it. */
static std::string value_of(unsigned long i, unsigned long cycle)
{
	char v[101];
	unsigned long x = i * 0x9e3779b97f4a7c15UL ^ cycle;

	for (int j = 0; j < 100; j++) {
		x ^= x >> 13;
		x *= 0xbf58476d1ce4e5b9UL;
		v[j] = 'a' + (x >> 59);
	}
	v[100] = 0;
	return v;
}

static std::unique_ptr<DB> open_db(const char *dbdir, const char *waldir)
{
	rocksdb::Options o;
	DB *db = nullptr;

	o.create_if_missing = true;
	o.wal_dir = waldir;
	o.write_buffer_size = 256 << 10;
	o.max_write_buffer_number = 2;
	o.target_file_size_base = 512 << 10;
	o.max_bytes_for_level_base = 2 << 20;
	o.level0_file_num_compaction_trigger = 2;
	Status s = DB::Open(o, dbdir, &db);
	if (!s.ok()) {
		fprintf(stderr, "rdb_crash: open %s: %s\n", dbdir,
			s.ToString().c_str());
		exit(1);
	}
	return std::unique_ptr<DB>(db);
}

/* key -> cycle of its last acknowledged write; complete lines only. */
static std::map<unsigned long, unsigned long> read_acks(const char *path,
							unsigned long *next)
{
	std::map<unsigned long, unsigned long> acked;
	std::ifstream in(path);
	std::string line;

	*next = 0;
	while (std::getline(in, line)) {
		if (in.eof())
			break;		/* no newline: cut while appending */
		unsigned long a, b, c;
		if (sscanf(line.c_str(), "%lu %lu %lu", &a, &b, &c) != 3)
			continue;
		for (unsigned long i = a; i <= b; i++)
			acked[i] = c;
		if (b + 1 > *next)
			*next = b + 1;
	}
	return acked;
}

static int run(const char *dbdir, const char *waldir, const char *ackfile,
	       unsigned long cycle, unsigned long mark)
{
	std::unique_ptr<DB> db = open_db(dbdir, waldir);
	rocksdb::WriteOptions wo;
	unsigned long next, n;
	int fd;

	read_acks(ackfile, &next);
	fd = open(ackfile, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0) {
		perror(ackfile);
		return 1;
	}
	wo.sync = true;
	for (n = 1; n <= 100000; n++) {
		unsigned long k = 1 + (next * 7 + n) % 8, i;
		rocksdb::WriteBatch b;
		Status s;

		if (n % 3)
			k = 1;
		for (i = next; i < next + k; i++)
			b.Put(key_of(i), value_of(i, cycle));
		s = k == 1 ? db->Put(wo, key_of(next), value_of(next, cycle)) :
			     db->Write(wo, &b);
		if (!s.ok()) {
			fprintf(stderr, "rdb_crash: write: %s\n",
				s.ToString().c_str());
			return 1;
		}
		char line[80];
		int len = snprintf(line, sizeof(line), "%lu %lu %lu\n", next,
				   next + k - 1, cycle);
		if (write(fd, line, len) != len || fsync(fd)) {
			perror(ackfile);
			return 1;
		}
		next += k;
		if (n == mark) {
			printf("POWER-CUT-NOW\n");
			fflush(stdout);
		}
	}
	close(fd);
	return 0;
}

static int check(const char *dbdir, const char *waldir, const char *ackfile)
{
	std::unique_ptr<DB> db = open_db(dbdir, waldir);
	unsigned long next, bad = 0;
	auto acked = read_acks(ackfile, &next);

	for (auto &a : acked) {
		std::string v;
		Status s = db->Get(rocksdb::ReadOptions(), key_of(a.first), &v);

		if (!s.ok() || v != value_of(a.first, a.second)) {
			if (bad++ < 5)
				fprintf(stderr, "rdb_crash: %s: %s\n",
					key_of(a.first).c_str(),
					s.ok() ? "wrong value" :
						 s.ToString().c_str());
		}
	}
	if (bad) {
		fprintf(stderr, "rdb_crash: %lu of %zu acknowledged keys lost\n",
			bad, acked.size());
		return 1;
	}
	printf("checked %zu keys\n", acked.size());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "run"))
		return run(argv[2], argv[3], argv[4], strtoul(argv[5], NULL, 10),
			   strtoul(argv[6], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "check"))
		return check(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: rdb_crash run DBDIR WALDIR ACKFILE CYCLE MARK_AFTER\n"
		"       rdb_crash check DBDIR WALDIR ACKFILE\n");
	return 2;
}
