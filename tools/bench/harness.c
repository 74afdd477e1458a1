/* ipc-bench harness: where the processes run (placement), how a row is
 * measured (a forked child, ping-pong latency, one-way streams), rounds, and
 * the floor probe that tells each round's placement regime. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

const size_t bench_sizes[NSIZES] = { 64, 4096, 65536, 1u << 20 };
#define BATCH_SIZES 2             /* batch rows: 64 B and 4 KiB only */

struct bench_cfg cfg;
struct bench_results B;
volatile sig_atomic_t timed_out;
volatile pid_t child_pid, measurer_pid;

/* Every name a row may create, for an interrupted run to remove. */
static const char *const dir_names[] = {
	"lib-p2c.fifo", "lib-c2p.fifo", "raw-p2c.fifo", "raw-c2p.fifo",
	"lib.sock", "raw.sock", "zmq.sock", "nng.sock", "tls.pem", "tls.key",
};

/* Async-signal-safe: unlink what process @p pid may have left. */
static void
remove_names(pid_t pid)
{
	char path[512], num[16];
	size_t i, dl = strlen(cfg.dir), k = sizeof(num);
	unsigned v = (unsigned)pid;

	for (i = 0; i < sizeof(dir_names) / sizeof(dir_names[0]) && dl && dl < 400; i++) {
		memcpy(path, cfg.dir, dl);
		path[dl] = '/';
		strcpy(path + dl + 1, dir_names[i]);
		unlink(path);
	}
	num[--k] = '\0';
	do
		num[--k] = (char)('0' + v % 10);
	while ((v /= 10) && k);
	strcpy(path, "/dev/shm/ipc-bench-");
	strcat(path, num + k);
	strcat(path, "-lib");
	unlink(path);
}

void
on_terminate(int sig)
{
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	if (measurer_pid > 0) {
		kill(measurer_pid, SIGKILL);
		remove_names(measurer_pid);
	}
	remove_names(getpid());
	if (cfg.dir[0])
		rmdir(cfg.dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
}

void
watchdog(unsigned s)
{
	timed_out = 0;
	alarm(s);
}

int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* A busy-wait step: spin, and every few microseconds give the CPU away so a
 * peer on the same CPU can run. @return -ETIMEDOUT once the watchdog fired. */
int
spin_step(unsigned *n)
{
	cpu_relax();
	if ((++*n & 255) == 0) {
		if (timed_out)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

int
pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------ endpoints */

int
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return 0;
}

void
ep_init(struct ep *e, const struct ep_ops *ops)
{
	memset(e, 0, sizeof(*e));
	e->ops = ops;
	e->rfd = e->wfd = -1;
}

void
dir_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", cfg.dir, name);
}


void
no_cleanup(struct run *r)
{
	int i;

	for (i = 0; i < 4; i++)
		if (r->ch[i])
			ipc_close(r->ch[i]);
}

/* --- libzmq and nng: the parent binds, then tells the child where --- */

int
rv_send(struct run *r, const char *s)
{
	size_t len = strlen(s) + 1;

	return write(r->rv[1], s, len) == (ssize_t)len ? 0 : -EIO;
}

int
rv_recv(struct run *r, char *out, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(r->rv[0], out + got, cap - got);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		got += (size_t)n;
		if (out[got - 1] == '\0')
			return 0;
	}
	return -EMSGSIZE;
}

enum { CMD_ECHO = 1, CMD_SEND, CMD_QUIT };

struct cmd {
	uint32_t op, size, count, budget_us;
};

static void __attribute__((noreturn))
child_main(struct run *r, const struct impl *im)
{
	static unsigned char buf[BUF_SIZE];
	struct cmd c;
	struct ep e;
	ssize_t n;
	uint32_t i;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(3);
	signal(SIGALRM, SIG_DFL);     /* the watchdog kills a stuck child */
	alarm(WATCHDOG_S);
	close_fd(&r->rv[1]);
	pin_to(cfg.cpu_b);
	memset(buf, 0x5a, sizeof(buf));
	if ((rc = im->attach(r, 1, &e)) < 0)
		_exit(2);
	for (;;) {
		alarm(WATCHDOG_S);
		n = e.ops->recv(&e, &c, sizeof(c));
		if (n != (ssize_t)sizeof(c))
			_exit(4);
		if (c.op == CMD_QUIT)
			break;
		if (c.op == CMD_ECHO) {
			while ((n = e.ops->recv(&e, buf, sizeof(buf))) > 0)
				if (e.ops->send(&e, buf, (size_t)n) < 0)
					_exit(5);
			if (n < 0)
				_exit(6);
		} else if (c.op == CMD_SEND) {
			int64_t end = now_ns() + (int64_t)c.budget_us * 1000;

			/* At least count, then until the time is up (the clock
			 * read every 16 messages), then the empty end marker. */
			if (im->batch) {       /* whole batches, the clock read per batch */
				for (i = 0; i < STREAM_MAX && (i < c.count || now_ns() < end);
				     i += im->batch)
					if (e.ops->send_batch(&e, buf, c.size, im->batch) < 0)
						_exit(7);
			} else {
				for (i = 0; i < STREAM_MAX &&
				     (i < c.count || (i & 15) || now_ns() < end); i++)
					if (e.ops->send(&e, buf, c.size) < 0)
						_exit(7);
			}
			if (e.ops->send(&e, buf, 0) < 0)
				_exit(7);
		}
	}
	/* Say goodbye so the parent knows every message was taken. */
	e.ops->send(&e, &c, sizeof(c));
	e.ops->close(&e);
	_exit(0);
}

/* ------------------------------------------------------------ measuring */

int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
send_cmd(struct ep *e, uint32_t op, uint32_t size, uint32_t count, uint32_t budget_us)
{
	struct cmd c = { op, size, count, budget_us };

	return e->ops->send(e, &c, sizeof(c));
}

/* Rows measured one way only: the batch rows, and the shm loan row, whose
 * receiver reads what it is lent in place and copies nothing back out for
 * an echo. */
static int
one_way(const struct impl *im)
{
	return im->batch || strcmp(im->impl, "loan") == 0;
}

static int
measure_latency(struct ep *e, size_t size, struct result *res, int64_t *lat)
{
	static unsigned char out[BUF_SIZE], in[BUF_SIZE];
	int64_t t0, end, hard_end;
	long i, n = 0;
	ssize_t r;
	int rc;

	memset(out, 0xa5, size);
	if ((rc = send_cmd(e, CMD_ECHO, 0, 0, 0)) < 0)
		return rc;
	for (i = 0; i < 20; i++) {              /* warm-up */
		if ((rc = e->ops->send(e, out, size)) < 0)
			return rc;
		if ((r = e->ops->recv(e, in, sizeof(in))) < 0)
			return (int)r;
	}
	/* For the budget, and on until lat_min samples; but a machine too busy
	 * to give lat_min in four budgets gets what it gave (at least 50). */
	end = now_ns() + (int64_t)(cfg.lat_budget * 1e9);
	hard_end = end + (int64_t)(3 * cfg.lat_budget * 1e9);
	while (n < LAT_MAX && (t0 = now_ns()) &&
	       (t0 < end || (n < cfg.lat_min && (t0 < hard_end || n < 50)))) {
		if ((rc = e->ops->send(e, out, size)) < 0)
			return rc;
		if ((r = e->ops->recv(e, in, sizeof(in))) < 0)
			return (int)r;
		lat[n++] = now_ns() - t0;
		if ((size_t)r != size || in[size - 1] != 0xa5)
			return -EBADMSG;
	}
	if ((rc = e->ops->send(e, out, 0)) < 0)  /* empty message: echo ends */
		return rc;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	res->p50_us = lat[n / 2] / 1e3;
	res->p99_us = lat[n * 99 / 100] / 1e3;
	res->lat_n = n;
	return 0;
}

/* The child streams messages of @p size for the budget (at least @p min of
 * them), then an empty one. Rate: from the arrival of the first to the
 * arrival of the end marker, which follows the last at once. */
static int
stream(struct ep *e, size_t size, long min, double budget, long *count, double *secs)
{
	static unsigned char in[BUF_SIZE];
	int64_t t0 = 0;
	ssize_t r;
	long n = 0;
	int rc;

	if ((rc = send_cmd(e, CMD_SEND, (uint32_t)size, (uint32_t)min,
	                   (uint32_t)(budget * 1e6))) < 0)
		return rc;
	for (;;) {
		if ((r = e->ops->recv(e, in, sizeof(in))) < 0)
			return (int)r;
		if (r == 0)
			break;
		if ((size_t)r != size)
			return -EBADMSG;
		if (n++ == 0)
			t0 = now_ns();
	}
	*secs = (now_ns() - t0) / 1e9;
	*count = n;
	return n < min ? -EBADMSG : 0;
}

static int
measure_tput(struct ep *e, size_t size, struct result *res)
{
	double secs;
	long n;
	int rc;

	if ((rc = stream(e, size, 64, 0, &n, &secs)) < 0)       /* warm-up */
		return rc;
	if ((rc = stream(e, size, cfg.tput_min, cfg.tput_budget, &n, &secs)) < 0)
		return rc;
	res->msgs = secs > 0 ? n / secs : 0;
	res->mbs = res->msgs * (double)size / 1e6;
	res->tput_n = n;
	return 0;
}

static void
add_skip(const struct impl *im, const char *why)
{
	struct skip *k;

	if (B.nskips == B.skipcap) {
		int cap = B.skipcap ? 2 * B.skipcap : 16;
		struct skip *n = realloc(B.skips, (size_t)cap * sizeof(*n));

		if (!n)
			return;
		B.skips = n;
		B.skipcap = cap;
	}
	k = &B.skips[B.nskips++];
	memset(k, 0, sizeof(*k));
	snprintf(k->transport, sizeof(k->transport), "%s", im->transport);
	snprintf(k->impl, sizeof(k->impl), "%s", im->impl);
	snprintf(k->why, sizeof(k->why), "%s", why);
	progress(" skipped: %s", why);
}

/* A fresh result slot at the end of B.res (NULL: out of memory). */
static struct result *
new_result(void)
{
	if (B.nres == B.cap) {
		int cap = B.cap ? 2 * B.cap : 64;
		struct result *n = realloc(B.res, (size_t)cap * sizeof(*n));

		if (!n)
			return NULL;
		B.res = n;
		B.cap = cap;
	}
	memset(&B.res[B.nres], 0, sizeof(B.res[0]));
	return &B.res[B.nres];
}

/* Reap the child within a bound: ask, wait, then kill. */
int
reap(pid_t pid)
{
	int64_t end = now_ns() + 5000000000LL;
	int status;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ns() > end) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		usleep(1000);
	}
	child_pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
run_impl(const struct impl *im, int64_t *lat, size_t nsz)
{
	struct run r;
	struct ep e;
	char why[160];
	int rc = 0, st, i, first = B.nres;
	size_t k;
	pid_t pid;

	memset(&r, 0, sizeof(r));
	r.im = im;
	r.lfd = r.rv[0] = r.rv[1] = -1;
	for (i = 0; i < 4; i++)
		r.fd[i] = -1;
	progress("%s/%s:", im->transport, im->impl);
	if (pipe2(r.rv, O_CLOEXEC) < 0) {
		add_skip(im, strerror(errno));
		return;
	}
	watchdog(WATCHDOG_S);
	rc = im->prepare(&r);
	if (rc == -EPROTONOSUPPORT) {
		add_skip(im, "driver not built");
		goto out;
	}
	if (rc < 0) {
		snprintf(why, sizeof(why), "set-up failed: %s", ipc_strerror(rc));
		add_skip(im, why);
		goto out;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		add_skip(im, strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_main(&r, im);
	child_pid = pid;
	close_fd(&r.rv[0]);
	if ((rc = im->attach(&r, 0, &e)) < 0) {
		snprintf(why, sizeof(why), "connect failed: %s", ipc_strerror(rc));
		e.ops->close(&e);
		kill(pid, SIGKILL);
		reap(pid);
		add_skip(im, why);
		goto out;
	}
	for (k = 0; k < nsz; k++) {
		struct result *res = new_result();

		if (!res) {
			rc = -ENOMEM;
			break;
		}
		snprintf(res->transport, sizeof(res->transport), "%s", im->transport);
		snprintf(res->impl, sizeof(res->impl), "%s", im->impl);
		res->size = bench_sizes[k];
		res->has_lat = !one_way(im);
		watchdog(WATCHDOG_S);
		if ((res->has_lat && (rc = measure_latency(&e, bench_sizes[k], res, lat)) < 0) ||
		    (rc = measure_tput(&e, bench_sizes[k], res)) < 0)
			break;
		res->ok = 1;
		B.nres++;
		progress(" %zu", bench_sizes[k]);
	}
	if (rc >= 0) {
		struct cmd c;

		watchdog(WATCHDOG_S);
		if (send_cmd(&e, CMD_QUIT, 0, 0, 0) == 0)
			e.ops->recv(&e, &c, sizeof(c));     /* goodbye */
	} else {
		kill(pid, SIGKILL);
	}
	e.ops->close(&e);
	st = reap(pid);
	alarm(0);
	if (rc < 0) {
		B.nres = first;
		snprintf(why, sizeof(why), "failed: %s%s (child status %d)", ipc_strerror(rc),
		         timed_out ? ", watchdog fired" : "", st);
		add_skip(im, why);
	} else {
		progress(" done");
	}
out:
	alarm(0);
	im->cleanup(&r);
	close_fd(&r.rv[0]);
	close_fd(&r.rv[1]);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = write(fd, (const char *)buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Read @p len bytes within the deadline (absolute, ns). */
static int
read_until(int fd, void *buf, size_t len, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t done = 0;
	ssize_t r;
	int64_t left;

	while (done < len) {
		left = (deadline - now_ns()) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		r = read(fd, (char *)buf + done, len - done);
		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Each row runs in a process of its own that forks the child and measures,
 * then reports here: libraries that start threads (nng refuses to work in a
 * child forked after it started) never touch the main process, and nothing
 * one row leaves behind can slow the next. Results get @p round. */
static void
run_isolated(const struct impl *im, int64_t *lat, size_t nsz, int round)
{
	int64_t t0 = now_ns(), deadline = t0 + 8 * (int64_t)WATCHDOG_S * 1000000000;
	int p[2], n = 0, ns = 0, st, i, first = B.nres, firsts = B.nskips;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		add_skip(im, strerror(errno));
		return;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		add_skip(im, strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		measurer_pid = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		B.nres = B.nskips = 0;
		run_impl(im, lat, nsz);
		if (write_all(p[1], &B.nres, sizeof(B.nres)) < 0 ||
		    write_all(p[1], B.res, (size_t)B.nres * sizeof(B.res[0])) < 0 ||
		    write_all(p[1], &B.nskips, sizeof(B.nskips)) < 0 ||
		    write_all(p[1], B.skips, (size_t)B.nskips * sizeof(B.skips[0])) < 0)
			_exit(1);
		_exit(0);
	}
	measurer_pid = pid;
	close(p[1]);
	if (read_until(p[0], &n, sizeof(n), deadline) < 0 || n < 0 || n > (int)nsz) {
		n = -1;
	} else {
		if (B.cap < B.nres + n) {
			struct result *g = realloc(B.res, (size_t)(B.nres + n) * sizeof(*g));

			if (g) {
				B.res = g;
				B.cap = B.nres + n;
			} else {
				n = -1;
			}
		}
	}
	if (n < 0 ||
	    read_until(p[0], B.res + B.nres, (size_t)n * sizeof(B.res[0]), deadline) < 0 ||
	    read_until(p[0], &ns, sizeof(ns), deadline) < 0 || ns < 0 || ns > 1) {
		kill(pid, SIGKILL);
		n = ns = 0;
		add_skip(im, "the measuring process did not report");
	} else if (ns) {
		struct skip k;

		if (read_until(p[0], &k, sizeof(k), deadline) < 0)
			snprintf(k.why, sizeof(k.why), "the measuring process did not report");
		k.why[sizeof(k.why) - 1] = '\0';
		add_skip(im, k.why);
	}
	B.nres += n;
	for (i = first; i < B.nres; i++) {
		B.res[i].round = round;     /* names are ours, not the measurer's */
		B.res[i].transport[NAME_LEN - 1] = B.res[i].impl[NAME_LEN - 1] = '\0';
	}
	for (i = firsts; i < B.nskips; i++)
		B.skips[i].round = round;
	close(p[0]);
	st = reap(pid);
	measurer_pid = 0;
	if (st != 0 && n + ns > 0)
		progress(" [measuring process exit status %d]", st);
	progress(" (%.1f s)\n", (now_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------ rows, rounds */

static const struct impl **rows;
static size_t nrows;

const struct impl *
bench_row(size_t i)
{
	return i < nrows ? rows[i] : NULL;
}

size_t
bench_nrows(void)
{
	return nrows;
}

static void
add_family(const struct impl *t, size_t n, const char *transport)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(t[i].transport, transport) == 0)
			rows[nrows++] = &t[i];
}

/* Every row, grouped by transport in the order they first appear, libipc's
 * rows first within a transport, then the raw baselines, then the others. */
int
bench_rows_init(void)
{
	static const struct { const struct impl *t; const size_t *n; } fam[] = {
		{ bench_rows_libipc, &bench_nrows_libipc },
		{ bench_rows_raw, &bench_nrows_raw },
		{ bench_rows_mq, &bench_nrows_mq },
		{ bench_rows_tls, &bench_nrows_tls },
	};
	size_t total = 0, f, i, j, k;

	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++)
		total += *fam[f].n;
	if (!(rows = calloc(total, sizeof(*rows))))
		return -ENOMEM;
	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++)
		for (i = 0; i < *fam[f].n; i++) {
			const char *tr = fam[f].t[i].transport;
			int seen = 0;

			for (j = 0; j < nrows && !seen; j++)
				seen = strcmp(rows[j]->transport, tr) == 0;
			if (seen)
				continue;
			for (k = 0; k < sizeof(fam) / sizeof(fam[0]); k++)
				add_family(fam[k].t, *fam[k].n, tr);
		}
	return 0;
}

const struct impl *
bench_find_row(const char *transport, const char *impl)
{
	size_t i;

	for (i = 0; i < nrows; i++)
		if (strcmp(rows[i]->transport, transport) == 0 && strcmp(rows[i]->impl, impl) == 0)
			return rows[i];
	return NULL;
}

/* The busy-poll ring's 64 B round trip and stream, measured at the start of
 * each round: the host's placement of the two vCPUs shows in it first. */
static void
probe_floor(int round, int64_t *lat)
{
	const struct impl *im = bench_find_row("shm", "raw-spin");
	int first = B.nres, firsts = B.nskips;

	if (!im)
		return;
	progress("[round %d floor] ", round + 1);
	run_isolated(im, lat, 1, round);
	if (B.nres == first + 1) {
		B.floor[round].ok = 1;
		B.floor[round].p50_us = B.res[first].p50_us;
		B.floor[round].msgs = B.res[first].msgs;
	}
	B.nres = first;        /* the probe is not a row of the table */
	B.nskips = firsts;
}

/* Round after round, every selected row once; the order within a transport
 * flips every round, so libipc and its baseline take turns going first. */
void
bench_run_rounds(int (*selected)(const char *, const char *), int64_t *lat)
{
	int round;
	size_t i, g, end;

	for (round = 0; round < cfg.rounds; round++) {
		probe_floor(round, lat);
		for (g = 0; g < nrows; g = end) {
			for (end = g + 1; end < nrows &&
			     strcmp(rows[end]->transport, rows[g]->transport) == 0; end++)
				;
			for (i = 0; i < end - g; i++) {
				const struct impl *im = rows[round & 1 ? end - 1 - i : g + i];

				if (!selected(im->transport, im->impl))
					continue;
				if (cfg.rounds > 1)
					progress("[round %d] ", round + 1);
				run_isolated(im, lat, im->batch ? BATCH_SIZES : NSIZES, round);
			}
		}
	}
}
