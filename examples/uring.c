// SPDX-License-Identifier: MIT OR LGPL-2.1-or-later
/*
 * uring PATH N: persists through io_uring, overlapped with other work.
 *
 * The program appends N one-page records to a ring of pages in a region.
 * Each record is persisted by an IORING_OP_URING_CMD request
 * (msnap_prep_persist()) on the same ring as the program's other IO (here
 * a copy of each record written to a plain file), and up to DEPTH
 * persists are in flight while the program computes the next records.  A
 * record counts as durable only when its CQE has arrived.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <memsnap_uring.h>

#define SLOTS		64	/* record pages in the region */
#define DEPTH		8	/* persists in flight, < SLOTS */
#define PERSIST_TAG	(1ULL << 63)

struct header {
	uint64_t	records;	/* durable records, all runs */
};

struct record {
	uint64_t	seq;
	uint64_t	sum;		/* of the payload */
	char		payload[256];
};

struct state {
	struct io_uring		ring;
	struct msnap_region	*region;
	int			copy_fd;
	unsigned int		inflight;
	uint64_t		acked;
	uint64_t		copies;
	uint64_t		overlapped;
};

static char *slot(struct state *s, uint64_t seq)
{
	return (char *)msnap_addr(s->region) + (1 + seq % SLOTS) *
	       (size_t)getpagesize();
}

/* "Other work": fill a record, summing its payload. */
static void compute(struct record *rec, uint64_t seq)
{
	uint64_t i;

	rec->seq = seq;
	rec->sum = 0;
	for (i = 0; i < sizeof(rec->payload); i++) {
		rec->payload[i] = (char)(seq * 31 + i);
		rec->sum += (unsigned char)rec->payload[i];
	}
}

static int reap(struct state *s, int wait)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = wait ? io_uring_wait_cqe(&s->ring, &cqe) :
		     io_uring_peek_cqe(&s->ring, &cqe);
	if (ret)
		return ret == -EAGAIN ? 0 : ret;
	if (cqe->user_data & PERSIST_TAG) {
		ret = msnap_cqe_result(cqe);
		if (ret < 0) {
			fprintf(stderr, "uring: persist: %s\n", strerror(-ret));
			return ret;
		}
		s->inflight--;
		s->acked++;
		if (!wait)
			s->overlapped++;
	} else if (cqe->res < 0) {
		fprintf(stderr, "uring: write: %s\n", strerror(-cqe->res));
		return cqe->res;
	} else {
		s->copies++;
	}
	io_uring_cqe_seen(&s->ring, cqe);
	return 1;
}

static int submit_record(struct state *s, uint64_t seq)
{
	struct record *rec = (struct record *)slot(s, seq);
	struct io_uring_sqe *sqe;

	compute(rec, seq);
	sqe = io_uring_get_sqe(&s->ring);
	msnap_prep_persist(sqe, s->region, rec, getpagesize(), 0);
	sqe->user_data = PERSIST_TAG | seq;
	sqe = io_uring_get_sqe(&s->ring);
	io_uring_prep_write(sqe, s->copy_fd, rec, sizeof(*rec),
			    seq * sizeof(*rec));
	sqe->user_data = seq;
	s->inflight++;
	return io_uring_submit(&s->ring);
}

static int run(struct state *s, uint64_t first, uint64_t n)
{
	uint64_t seq;
	int ret;

	for (seq = first; seq < first + n; seq++) {
		/* Never rewrite a slot whose persist may be in flight. */
		while (s->inflight >= DEPTH)
			if ((ret = reap(s, 1)) < 0)
				return ret;
		ret = submit_record(s, seq);
		if (ret < 0)
			return ret;
		while ((ret = reap(s, 0)) > 0)
			;
		if (ret < 0)
			return ret;
	}
	while (s->inflight || s->copies < n)
		if ((ret = reap(s, 1)) < 0)
			return ret;
	return 0;
}

int main(int argc, char **argv)
{
	struct state s = { 0 };
	struct header *h;
	uint64_t n;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: uring PATH N\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 0);
	ret = msnap_open(argv[1], (SLOTS + 1) * (size_t)getpagesize(),
			 MSNAP_OPEN_CREATE, &s.region);
	if (!ret)
		ret = io_uring_queue_init(2 * DEPTH + 2, &s.ring, 0);
	if (ret) {
		fprintf(stderr, "uring: %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	s.copy_fd = open("/tmp/uring-copy", O_WRONLY | O_CREAT | O_TRUNC,
			 0644);
	if (s.copy_fd < 0) {
		perror("uring: /tmp/uring-copy");
		return 1;
	}
	h = msnap_addr(s.region);
	printf("uring: start %" PRIu64 " records\n", h->records);
	ret = run(&s, h->records, n);
	if (ret) {
		fprintf(stderr, "uring: %s\n", strerror(-ret));
		return 1;
	}
	/* Every record is durable: now the header may say so. */
	h->records += n;
	ret = msnap_persist(h, getpagesize(), 0);
	if (ret < 0) {
		fprintf(stderr, "uring: persist: %s\n", strerror(-ret));
		return 1;
	}
	printf("uring: %" PRIu64 " persists acked, %" PRIu64
	       " completed while other work went on; %" PRIu64
	       " copies written; %" PRIu64 " records in all\n",
	       s.acked, s.overlapped, s.copies, h->records);
	io_uring_queue_exit(&s.ring);
	close(s.copy_fd);
	return msnap_close(s.region) ? 1 : 0;
}
