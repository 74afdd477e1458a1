/* Zero-copy loans on shm: ipc_send_reserve / ipc_send_commit / ipc_send_abort
 * and ipc_recv_peek / ipc_recv_release. Contiguity across the ring's end,
 * short commits, aborts, closes with loans out, one loan per direction and
 * handle (also between threads), what a held loan does to others, a hostile
 * peer rewriting loaned records, and (test-loan hooks) processes killed
 * holding a loan. The -EOPNOTSUPP of other transports is in conformance. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Segment offsets (doc/ipc-shm.7, "Layout"): the data of ring r in the
 * object, and a record's header (state, then length). Side A (the creator)
 * sends on ring 0 and receives on ring 1. */
#define SEG_DATA(r, cap) (4096 + (size_t)(r) * (cap))
#define CAP 4096u

/* "shm:/ipc-test-<pid>-loan-<tag>": the fixture's prefix, so that a failed
 * test's teardown finds what it left. */
static const char *
loan_uri(const char *tag)
{
	static char uri[128];

	snprintf(uri, sizeof(uri), "shm:/ipc-test-%ld-loan-%s", (long)getpid(), tag);
	return uri;
}

/* A (creator, receives what b sends) and b, with a ring of @p cap bytes. */
static void
loan_pair(const char *tag, size_t cap, ipc_channel **a, ipc_channel **b)
{
	ipc_options o = IPC_OPTIONS_INIT;

	o.capacity = cap;
	ck_assert_int_eq(ipc_open(a, loan_uri(tag), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(b, loan_uri(tag), IPC_SEND | IPC_RECV, &o), 0);
}

static void
fill(unsigned char *p, size_t len, uint32_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seq * 131 + i * 7 + (i >> 8));
}

static int
same(const unsigned char *p, size_t len, uint32_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seq * 131 + i * 7 + (i >> 8)))
			return 0;
	return 1;
}

/* Message lengths that make records straddle the ring's end again and
 * again, up to the default max_msg of a 4 KiB ring (2 KiB). */
static size_t
len_of(uint32_t seq)
{
	static const size_t lens[] = { 0, 1, 7, 8, 9, 100, 1000, 1500, 2047, 2048, 333, 4 };

	return lens[seq % (sizeof(lens) / sizeof(lens[0]))];
}

/* Every pairing of the copying and the loan calls carries every length,
 * whole, across the ring's end (each loan is one contiguous buffer). */
START_TEST(loan_roundtrip_wraps)
{
	static unsigned char buf[4096];
	ipc_channel *a, *b;
	uint32_t seq;

	loan_pair("rt", CAP, &a, &b);
	for (seq = 0; seq < 400; seq++) {
		size_t len = len_of(seq);
		int loan_tx = seq & 1, loan_rx = (seq >> 1) & 1;
		const void *rbuf;
		void *wbuf;
		ssize_t n;

		if (loan_tx) {
			ck_assert_int_eq(ipc_send_reserve(b, &wbuf, len, 1000), (ssize_t)len);
			fill(wbuf, len, seq);
			ck_assert_int_eq(ipc_send_commit(b, wbuf, len), 0);
		} else {
			fill(buf, len, seq);
			ck_assert_int_eq(ipc_send(b, buf, len, 1000), (ssize_t)len);
		}
		if (loan_rx) {
			n = ipc_recv_peek(a, &rbuf, 1000);
			ck_assert_int_eq(n, (ssize_t)len);
			ck_assert_msg(same(rbuf, len, seq), "message %u torn", seq);
			ck_assert_int_eq(ipc_recv_release(a, rbuf), 0);
		} else {
			n = ipc_recv(a, buf, sizeof(buf), 1000);
			ck_assert_int_eq(n, (ssize_t)len);
			ck_assert_msg(same(buf, len, seq), "message %u torn", seq);
		}
	}
	/* the other direction too (a's loans, b's ring 0) */
	for (seq = 0; seq < 50; seq++) {
		size_t len = len_of(seq);
		const void *rbuf;
		void *wbuf;

		ck_assert_int_eq(ipc_send_reserve(a, &wbuf, len, 1000), (ssize_t)len);
		fill(wbuf, len, seq);
		ck_assert_int_eq(ipc_send_commit(a, wbuf, len), 0);
		ck_assert_int_eq(ipc_recv_peek(b, &rbuf, 1000), (ssize_t)len);
		ck_assert(same(rbuf, len, seq));
		ck_assert_int_eq(ipc_recv_release(b, rbuf), 0);
	}
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);
	test_unpair(a, b);
}
END_TEST

/* A commit shorter than the reservation sends that many bytes; the rest of
 * the reserved room is stepped over, and the next message follows. */
START_TEST(loan_commit_shorter)
{
	static unsigned char buf[4096];
	ipc_channel *a, *b;
	uint32_t seq;

	loan_pair("short", CAP, &a, &b);
	for (seq = 0; seq < 200; seq++) {
		size_t want = 1 + seq * 37 % 2047, len = seq % 5 == 0 ? 0 : seq * 13 % want;
		void *wbuf;

		ck_assert_int_eq(ipc_send_reserve(b, &wbuf, want, 1000), (ssize_t)want);
		fill(wbuf, want, seq);
		ck_assert_int_eq(ipc_send_commit(b, wbuf, want + 1), -EINVAL);  /* too long */
		ck_assert_int_eq(ipc_send_commit(b, wbuf, len), 0);
		fill(buf, 5, seq + 1);
		ck_assert_int_eq(ipc_send(b, buf, 5, 1000), 5);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), (ssize_t)len);
		ck_assert(same(buf, len, seq));
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 5);
		ck_assert(same(buf, 5, seq + 1));
	}
	test_unpair(a, b);
}
END_TEST

/* Loans never committed: an abort, and a close with a send loan out; a
 * close with a receive loan out. Only that message is gone, the next comes,
 * and the ring's room comes back (more than a ring's worth goes through). */
START_TEST(loan_abort_and_close)
{
	static unsigned char buf[4096];
	ipc_channel *a, *b, *b2;
	ipc_options o = IPC_OPTIONS_INIT;
	const void *rbuf;
	void *wbuf;
	int i;

	loan_pair("abort", CAP, &a, &b);
	o.capacity = CAP;
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 1500, 1000), 1500);
		memset(wbuf, 'x', 1500);
		ck_assert_int_eq(ipc_send_abort(b, wbuf), 0);
		ck_assert_int_eq(ipc_send_abort(b, wbuf), -EINVAL);    /* given back */
		ck_assert_int_eq(ipc_send_commit(b, wbuf, 1), -EINVAL);
		ck_assert_int_eq(ipc_send(b, "next", 4, 1000), 4);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 4);
		ck_assert_mem_eq(buf, "next", 4);
	}
	/* reserve, then close: abandoned */
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(ipc_open(&b2, loan_uri("abort"), IPC_SEND | IPC_RECV, &o), 0);
		ck_assert_int_eq(ipc_send_reserve(b2, &wbuf, 1500, 1000), 1500);
		memset(wbuf, 'y', 1500);
		ipc_close(b2);
		ck_assert_int_eq(ipc_send(b, "after", 5, 1000), 5);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 5);
		ck_assert_mem_eq(buf, "after", 5);
	}
	/* peek, then close: released, never delivered again */
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(ipc_open(&b2, loan_uri("abort"), IPC_SEND | IPC_RECV, &o), 0);
		ck_assert_int_eq(ipc_send(a, "held", 4, 1000), 4);
		ck_assert_int_eq(ipc_send(a, "kept", 4, 1000), 4);
		ck_assert_int_eq(ipc_recv_peek(b2, &rbuf, 1000), 4);
		ck_assert_mem_eq(rbuf, "held", 4);
		ipc_close(b2);
		ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 4);
		ck_assert_mem_eq(buf, "kept", 4);
		ck_assert_int_eq(ipc_send(a, buf, 1500, 1000), 1500);  /* room is back */
		ck_assert_int_eq(ipc_send(a, buf, 1500, 1000), 1500);
		ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 1500);
		ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 1500);
	}
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 0), -EAGAIN);
	test_unpair(a, b);
}
END_TEST

/* Argument checks, one loan per direction, the peer's max_msg, timeouts,
 * direction and shutdown. */
START_TEST(loan_errors)
{
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *a, *b, *ro;
	const void *rbuf, *r2;
	void *wbuf, *w2 = NULL;
	char c = 0;

	loan_pair("err", CAP, &a, &b);
	ck_assert_int_eq(ipc_send_reserve(NULL, &wbuf, 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_send_reserve(b, NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 1, -2), -EINVAL);
	ck_assert_int_eq(ipc_recv_peek(NULL, &rbuf, 0), -EINVAL);
	ck_assert_int_eq(ipc_recv_peek(a, NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_recv_peek(a, &rbuf, -2), -EINVAL);
	ck_assert_int_eq(ipc_send_commit(NULL, &c, 0), -EINVAL);
	ck_assert_int_eq(ipc_send_commit(b, NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_send_commit(b, &c, 0), -EINVAL);   /* no loan out */
	ck_assert_int_eq(ipc_send_abort(b, &c), -EINVAL);
	ck_assert_int_eq(ipc_recv_release(a, &c), -EINVAL);
	ck_assert_int_eq(ipc_recv_release(a, NULL), -EINVAL);
	/* nothing to peek, no blocking */
	ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 0), -EAGAIN);
	ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 20), -ETIMEDOUT);
	/* the peer takes 2048 (half the ring by default) */
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 2049, 0), -EMSGSIZE);
	/* one send loan: a second is -EBUSY, a wrong pointer -EINVAL */
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 10, 0), 10);
	ck_assert_int_eq(ipc_send_reserve(b, &w2, 10, 0), -EBUSY);
	ck_assert_ptr_null(w2);
	ck_assert_int_eq(ipc_send_commit(b, (char *)wbuf + 1, 1), -EINVAL);
	ck_assert_int_eq(ipc_send_abort(b, (char *)wbuf + 1), -EINVAL);
	memcpy(wbuf, "0123456789", 10);
	ck_assert_int_eq(ipc_send_commit(b, wbuf, 10), 0);
	/* one receive loan */
	ck_assert_int_eq(ipc_send(b, "second", 6, 0), 6);
	ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 0), 10);
	ck_assert_int_eq(ipc_recv_peek(a, &r2, 0), -EBUSY);
	ck_assert_int_eq(ipc_recv_release(a, (const char *)rbuf + 1), -EINVAL);
	ck_assert_mem_eq(rbuf, "0123456789", 10);
	ck_assert_int_eq(ipc_recv_release(a, rbuf), 0);
	/* a ring too full for the reservation */
	ck_assert_int_eq(ipc_send(b, &c, 1, 0), 1);
	while (ipc_send(b, &c, 1, 0) == 1)
		;
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 100, 0), -EAGAIN);
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 100, 20), -ETIMEDOUT);
	/* a receive-only handle has no send loans, and the reverse */
	o.capacity = CAP;
	ck_assert_int_eq(ipc_open(&ro, loan_uri("err"), IPC_RECV, &o), 0);
	ck_assert_int_eq(ipc_send_reserve(ro, &wbuf, 1, 0), -EBADF);
	ck_assert_int_eq(ipc_send_commit(ro, &c, 0), -EBADF);
	ck_assert_int_eq(ipc_send_abort(ro, &c), -EBADF);
	ipc_close(ro);
	ck_assert_int_eq(ipc_open(&ro, loan_uri("err"), IPC_SEND, &o), 0);
	ck_assert_int_eq(ipc_recv_peek(ro, &rbuf, 0), -EBADF);
	ck_assert_int_eq(ipc_recv_release(ro, &c), -EBADF);
	ipc_close(ro);
	/* shutdown: no new loans, no commit; abort and release still give back */
	ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 0), 6);
	ck_assert_int_eq(ipc_send_reserve(a, &wbuf, 4, 0), 4);
	ck_assert_int_eq(ipc_shutdown(a), 0);
	ck_assert_int_eq(ipc_send_reserve(a, &w2, 4, 0), IPC_EOF);
	ck_assert_int_eq(ipc_recv_peek(a, &r2, 0), IPC_EOF);
	ck_assert_int_eq(ipc_send_commit(a, wbuf, 4), IPC_EOF);
	ck_assert_int_eq(ipc_send_abort(a, wbuf), 0);
	ck_assert_int_eq(ipc_recv_release(a, rbuf), 0);
	test_unpair(a, b);
}
END_TEST

/* Threads of one handle racing for a loan: exactly one wins each round,
 * the others get -EBUSY. */
struct race {
	ipc_channel      *ch;
	pthread_barrier_t *bar;
	int               rx;
	int               won, busy, other;
	const void       *rbuf;
	void             *wbuf;
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	ssize_t n;

	pthread_barrier_wait(r->bar);
	if (r->rx)
		n = ipc_recv_peek(r->ch, &r->rbuf, 1000);
	else
		n = ipc_send_reserve(r->ch, &r->wbuf, 16, 1000);
	if (n >= 0)
		r->won++;
	else if (n == -EBUSY)
		r->busy++;
	else
		r->other++;
	pthread_barrier_wait(r->bar);
	return NULL;
}

START_TEST(loan_threads_race)
{
	enum { T = 4 };
	pthread_barrier_t bar;
	struct race r[T];
	pthread_t th[T];
	ipc_channel *a, *b;
	int round, i, dir;

	loan_pair("race", 1u << 16, &a, &b);
	for (round = 0; round < test_scale(100); round++) {
		for (dir = 0; dir < 2; dir++) {
			int won = 0;

			if (dir == 1)
				ck_assert_int_eq(ipc_send(b, "m", 1, 1000), 1);
			ck_assert_int_eq(pthread_barrier_init(&bar, NULL, T), 0);
			for (i = 0; i < T; i++) {
				r[i] = (struct race){ .ch = dir ? a : b, .bar = &bar, .rx = dir };
				ck_assert_int_eq(pthread_create(&th[i], NULL, racer, &r[i]), 0);
			}
			for (i = 0; i < T; i++)
				pthread_join(th[i], NULL);
			pthread_barrier_destroy(&bar);
			for (i = 0; i < T; i++) {
				ck_assert_int_eq(r[i].other, 0);
				ck_assert_int_eq(r[i].won + r[i].busy, 1);
				if (r[i].won) {
					won++;
					if (dir)
						ck_assert_int_eq(ipc_recv_release(a, r[i].rbuf), 0);
					else
						ck_assert_int_eq(ipc_send_abort(b, r[i].wbuf), 0);
				}
			}
			ck_assert_int_eq(won, 1);
		}
	}
	test_unpair(a, b);
}
END_TEST

/* What a held loan does to others. A reserved record holds back the later
 * messages (in order), not the other senders; a peeked one lets other
 * receivers take the later messages, and pins the ring's room from it on. */
START_TEST(loan_held_effects)
{
	static unsigned char buf[4096];
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *a, *b, *b2;
	const void *rbuf;
	void *wbuf;
	int sent;

	loan_pair("held", CAP, &a, &b);
	o.capacity = CAP;
	ck_assert_int_eq(ipc_open(&b2, loan_uri("held"), IPC_SEND | IPC_RECV, &o), 0);
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 3, 1000), 3);
	ck_assert_int_eq(ipc_send(b2, "later", 5, 1000), 5);    /* another sender goes on */
	ck_assert_int_eq(ipc_send(b, "mine", 4, 1000), 4);      /* so does this handle */
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);  /* behind the loan */
	ck_assert_int_eq(ipc_recv_size(a, 0), -EAGAIN);
	memcpy(wbuf, "one", 3);
	ck_assert_int_eq(ipc_send_commit(b, wbuf, 3), 0);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 3);
	ck_assert_mem_eq(buf, "one", 3);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 5);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 4);

	/* a peek on b: b2 takes the later messages, b itself too */
	ck_assert_int_eq(ipc_send(a, "first", 5, 1000), 5);
	ck_assert_int_eq(ipc_send(a, "second", 6, 1000), 6);
	ck_assert_int_eq(ipc_send(a, "third", 5, 1000), 5);
	ck_assert_int_eq(ipc_recv_peek(b, &rbuf, 1000), 5);
	ck_assert_int_eq(ipc_recv(b2, buf, sizeof(buf), 1000), 6);
	ck_assert_mem_eq(buf, "second", 6);
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 1000), 5);
	ck_assert_mem_eq(buf, "third", 5);
	/* a batch on the loan's own handle: the loan's claim covers it */
	{
		static unsigned char q[2][64];
		struct iovec m[2] = { { q[0], 64 }, { q[1], 64 } };

		ck_assert_int_eq(ipc_send(a, "4th", 3, 1000), 3);
		ck_assert_int_eq(ipc_send(a, "5th!", 4, 1000), 4);
		ck_assert_int_eq(ipc_recv_batch(b, m, 2, 1000), 2);
		ck_assert_int_eq(m[0].iov_len, 3);
		ck_assert_int_eq(m[1].iov_len, 4);
		ck_assert_mem_eq(q[1], "5th!", 4);
	}
	ck_assert_mem_eq(rbuf, "first", 5);     /* still ours, untouched */
	/* the room from the loan on stays taken while everything is read */
	for (sent = 0; sent < 100 && ipc_send(a, buf, 500, 0) == 500; sent++)
		ck_assert_int_eq(ipc_recv(b2, buf, sizeof(buf), 1000), 500);
	ck_assert_int_lt(sent, 8);
	ck_assert_mem_eq(rbuf, "first", 5);
	ck_assert_int_eq(ipc_recv_release(b, rbuf), 0);
	for (sent = 0; sent < 20; sent++) {
		ck_assert_int_eq(ipc_send(a, buf, 500, 1000), 500);
		ck_assert_int_eq(ipc_recv(b2, buf, sizeof(buf), 1000), 500);
	}
	ipc_close(b2);
	test_unpair(a, b);
}
END_TEST

/* A forked child does not inherit its parent's loans. */
static ipc_channel *fork_ch;
static void *fork_buf;

static int
child_commits(void *arg)
{
	(void)arg;
	return ipc_send_commit(fork_ch, fork_buf, 1) == -EINVAL ? 0 : 1;
}

START_TEST(loan_not_inherited)
{
	ipc_channel *a, *b;
	char buf[8];

	loan_pair("fork", CAP, &a, &b);
	ck_assert_int_eq(ipc_send_reserve(b, &fork_buf, 1, 1000), 1);
	*(char *)fork_buf = 'p';
	fork_ch = b;
	ck_assert_int_eq(test_wait(test_fork(child_commits, NULL), 10000), 0);
	ck_assert_int_eq(ipc_send_commit(b, fork_buf, 1), 0);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 1);
	ck_assert_int_eq(buf[0], 'p');
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);
	test_unpair(a, b);
}
END_TEST

/* A hostile second mapping rewrites loaned records. A reserved record's
 * length: the commit writes its own. A committed record's length or state,
 * before the peek: -EPROTO, never a pointer outside the mapping. A peeked
 * record's header while it is held: the loan stays as it was given. */
static unsigned char *
seg_map(const char *uri, size_t *len)
{
	struct stat st;
	unsigned char *p;
	int fd = shm_open(uri + 4, O_RDWR, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	close(fd);
	return p;
}

static void
poke32(unsigned char *at, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)at, v, __ATOMIC_RELEASE);
}

START_TEST(loan_hostile_peer)
{
	static const uint32_t lens[] = { 0xffffffffu, 4096, 4089, 2049, 3000 };
	static const uint32_t states[] = { 0, 3, 4, 6, 7, 2 | 8 };
	unsigned char buf[64], *seg, *ring1;
	ipc_channel *a, *b;
	const void *rbuf;
	void *wbuf;
	char tag[32];
	size_t len, i;

	/* 1: the reserved record's length and state rewritten; commit wins */
	loan_pair("hx", CAP, &a, &b);
	seg = seg_map(loan_uri("hx"), &len);
	ring1 = seg + SEG_DATA(1, CAP);
	ck_assert_int_eq(ipc_send_reserve(b, &wbuf, 10, 1000), 10);
	poke32(ring1 + 4, 0xfffffff0u);
	memcpy(wbuf, "abcdefghij", 10);
	ck_assert_int_eq(ipc_send_commit(b, wbuf, 10), 0);
	ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 1000), 10);
	ck_assert_mem_eq(rbuf, "abcdefghij", 10);
	/* 3: the held record's header rewritten: the loan is as given */
	poke32(ring1 + 4, 0xffffffffu);
	poke32(ring1, 7);
	ck_assert_mem_eq(rbuf, "abcdefghij", 10);
	ck_assert_int_eq(ipc_recv_release(a, rbuf), 0);
	ck_assert_int_eq(ipc_send(b, "ok", 2, 1000), 2);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 1000), 2);
	munmap(seg, len);
	test_unpair(a, b);

	/* 2: a committed record's length, then its state, before the peek */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]) + sizeof(states) / sizeof(states[0]); i++) {
		snprintf(tag, sizeof(tag), "h%zu", i);
		loan_pair(tag, CAP, &a, &b);
		seg = seg_map(loan_uri(tag), &len);
		ring1 = seg + SEG_DATA(1, CAP);
		ck_assert_int_eq(ipc_send(b, "hello", 5, 1000), 5);
		ck_assert_int_eq(ipc_send_reserve(a, &wbuf, 8, 1000), 8);
		if (i < sizeof(lens) / sizeof(lens[0]))
			poke32(ring1 + 4, lens[i]);
		else
			poke32(ring1, states[i - sizeof(lens) / sizeof(lens[0])]);
		rbuf = NULL;
		ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 200), -EPROTO);
		ck_assert_ptr_null(rbuf);
		ck_assert_int_eq(ipc_recv_peek(a, &rbuf, 0), -EPROTO);     /* sticky */
		ck_assert_int_eq(ipc_send_commit(a, wbuf, 8), -EPROTO);   /* given back */
		ck_assert_int_eq(ipc_send_abort(a, wbuf), -EINVAL);
		ck_assert_int_eq(ipc_send_reserve(a, &wbuf, 1, 0), -EPROTO);
		munmap(seg, len);
		test_unpair(a, b);
	}
}
END_TEST

/* --- hooks: killed holding a loan (IPC_CRASH_AT) --- */

struct crash_arg {
	const char *uri;
	const char *point;
};

/* Attach, then die (99) at the crash point inside a loan. */
static int
victim_main(void *arg)
{
	struct crash_arg *c = arg;
	ipc_options o = IPC_OPTIONS_INIT;
	const void *rbuf;
	void *wbuf;
	ipc_channel *v;

	o.capacity = CAP;
	if (ipc_open(&v, c->uri, IPC_SEND | IPC_RECV, &o) < 0)
		return 3;
	if (ipc_send(v, "before", 6, 1000) != 6)
		return 4;
	setenv("IPC_CRASH_AT", c->point, 1);
	if (strcmp(c->point, "shm-loan-reserved") == 0) {
		if (ipc_send_reserve(v, &wbuf, 1000, 1000) < 0)
			return 5;
	} else if (ipc_recv_peek(v, &rbuf, 1000) < 0) {
		return 5;
	}
	return 6;   /* the crash point was not reached */
}

/* A sender dies holding a send loan: that message is never delivered, the
 * next one (another sender's) is, and more than a ring's worth follows. */
static void
crash_reserved(int round)
{
	static unsigned char buf[4096];
	struct crash_arg c = { NULL, "shm-loan-reserved" };
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *a, *b;
	char tag[32];
	int i;

	snprintf(tag, sizeof(tag), "cr%d", round);
	o.capacity = CAP;
	ck_assert_int_eq(ipc_open(&a, loan_uri(tag), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, loan_uri(tag), IPC_SEND | IPC_RECV, &o), 0);
	c.uri = loan_uri(tag);
	ck_assert_int_eq(test_wait(test_fork(victim_main, &c), 10000), 99);
	ck_assert_int_eq(ipc_send(b, "next", 4, 1000), 4);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 5000), 6);
	ck_assert_mem_eq(buf, "before", 6);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 5000), 4);   /* the loan is skipped */
	ck_assert_mem_eq(buf, "next", 4);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(ipc_send(b, buf, 1500, 5000), 1500);
		ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 5000), 1500);
	}
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 0), -EAGAIN);
	test_unpair(a, b);
}

/* A receiver dies holding a receive loan: that message is never delivered
 * again, the next goes to another receiver, and the dead claim is reaped
 * (more than a ring's worth follows). */
static void
crash_peeked(int round)
{
	static unsigned char buf[4096];
	struct crash_arg c = { NULL, "shm-loan-peeked" };
	ipc_options o = IPC_OPTIONS_INIT;
	ipc_channel *a, *b;
	char tag[32];
	int i;

	snprintf(tag, sizeof(tag), "cp%d", round);
	o.capacity = CAP;
	ck_assert_int_eq(ipc_open(&a, loan_uri(tag), IPC_SEND | IPC_RECV | IPC_CREATE, &o), 0);
	ck_assert_int_eq(ipc_open(&b, loan_uri(tag), IPC_SEND | IPC_RECV, &o), 0);
	ck_assert_int_eq(ipc_send(a, "lost", 4, 1000), 4);
	ck_assert_int_eq(ipc_send(a, "next", 4, 1000), 4);
	c.uri = loan_uri(tag);
	ck_assert_int_eq(test_wait(test_fork(victim_main, &c), 10000), 99);
	ck_assert_int_eq(ipc_recv(a, buf, sizeof(buf), 5000), 6);   /* its send before */
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 5000), 4);
	ck_assert_mem_eq(buf, "next", 4);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(ipc_send(a, buf, 1500, 5000), 1500);
		ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 5000), 1500);
	}
	ck_assert_int_eq(ipc_recv(b, buf, sizeof(buf), 0), -EAGAIN);
	test_unpair(a, b);
}

START_TEST(loan_crash_points)
{
	int round;

	for (round = 0; round < test_scale(3); round++) {
		crash_reserved(round);
		crash_peeked(round);
	}
}
END_TEST

static Suite *
loan_suite(int hooks)
{
	Suite *s = suite_create("loan");
	TCase *tc = tcase_create(hooks ? "hooks" : "loan");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	if (hooks) {
		tcase_add_test(tc, loan_crash_points);
		return s;
	}
	tcase_add_test(tc, loan_roundtrip_wraps);
	tcase_add_test(tc, loan_commit_shorter);
	tcase_add_test(tc, loan_abort_and_close);
	tcase_add_test(tc, loan_errors);
	tcase_add_test(tc, loan_threads_race);
	tcase_add_test(tc, loan_held_effects);
	tcase_add_test(tc, loan_not_inherited);
	tcase_add_test(tc, loan_hostile_peer);
	return s;
}

int
main(int argc, char **argv)
{
	int hooks = argc == 2 && strcmp(argv[1], "hooks") == 0;
	ipc_channel *ch;

	if (access("/dev/shm", W_OK) < 0)
		test_skip("/dev/shm is not writable");
	if (ipc_open(&ch, "shm:", IPC_RECV, NULL) == -EPROTONOSUPPORT)
		test_skip("no shm transport");
	if (hooks)
		test_need_hooks("crash points inside loans");
	return test_run(loan_suite(hooks));
}
