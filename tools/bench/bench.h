/* ipc-bench: what the harness, the report and the row files share.
 *
 * A row (struct impl) is one implementation of one transport: how to set it
 * up before fork (prepare), how each side gets its endpoint (attach), and how
 * to tear it down. The harness runs every row once per round in a process of
 * its own, the report turns the rounds into medians and ratios. A new row is
 * one entry in a row file's table. */
#ifndef IPC_BENCH_H
#define IPC_BENCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <ipc/ipc.h>

#define MAX_MSG       (1u << 20)    /* the largest size measured: 1 MiB */
#define BUF_SIZE      (MAX_MSG + 64)
#define WATCHDOG_S    20            /* no single step may take longer */
#define LAT_MAX       1000000       /* latency samples kept per measurement */
#define STREAM_MAX    100000000u    /* messages in one stream, at most */
#define MAX_ROUNDS    15
#define MAX_BATCH     256           /* the largest batch a row sends per call */
#define NSIZES        4
#define NAME_LEN      16            /* transport and impl names, NUL included */

extern const size_t bench_sizes[NSIZES];   /* 64 B, 4 KiB, 64 KiB, 1 MiB */

struct bench_cfg {
	int quick, json, same_cpu, rounds;
	char **only;
	int nonly;
	int cpu_a, cpu_b, ncpu;
	double lat_budget, tput_budget;   /* seconds per measurement */
	long lat_min, tput_min;
	char dir[256];                    /* mkdtemp: FIFOs and sockets live here */
};
extern struct bench_cfg cfg;
extern volatile sig_atomic_t timed_out;   /* the watchdog fired */

/* ------------------------------------------------------------ endpoints */

struct ep;

struct ep_ops {
	int     (*send)(struct ep *e, const void *buf, size_t len);   /* 0 or -errno */
	ssize_t (*recv)(struct ep *e, void *buf, size_t cap);         /* length or -errno */
	void    (*close)(struct ep *e);
	/* optional: @p n messages of @p len bytes each (n <= MAX_BATCH) in as few
	 * calls as the implementation can; 0 or -errno */
	int     (*send_batch)(struct ep *e, const void *buf, size_t len, size_t n);
};

struct ep {
	const struct ep_ops *ops;
	int rfd, wfd;
	ipc_channel *tx, *rx;
	void *sin, *sout;             /* shared-memory rings of the raw shm rows */
	uint64_t rpos, wpos;          /* this side's private ring indexes */
	uint64_t seen_head, seen_tail; /* the peer's, as last read: fewer shared loads */
	void *zctx, *zsock;
	void *ssl;                    /* bare OpenSSL baseline: its SSL */
	uint32_t nsock;               /* nng_socket id */
	unsigned char *rbuf;          /* buffered readers: bytes read ahead */
	size_t rlen, roff;
};

void ep_init(struct ep *e, const struct ep_ops *ops);

/* ------------------------------------------------------------ rows */

/* Everything one row sets up before fork and tears down after. */
struct run {
	const struct impl *im;
	ipc_channel *ch[4];
	ipc_listener *lst;
	int fd[4];
	int lfd;                   /* raw listening socket */
	int rv[2];                 /* rendezvous pipe: parent -> child (endpoint names) */
	char uri[512];
	char path[2][300];
	void *map;
	size_t map_len;
};

struct impl {
	const char *transport;     /* pipe, fifo, fd, tcp, unix, shm */
	const char *impl;          /* libipc, raw, raw-sem, raw-spin, zmq, nng, batch64 ... */
	const char *base;          /* the impl of the same transport its ratio is against */
	int  (*prepare)(struct run *r);                      /* parent, before fork */
	int  (*attach)(struct run *r, int child, struct ep *e);
	void (*cleanup)(struct run *r);                      /* parent, child reaped */
	const char *note;
	unsigned batch;            /* > 0: the child streams this many messages per
	                              send_batch call; no latency, small sizes only */
};

/* The row families, each a table in its own file. */
extern const struct impl bench_rows_raw[], bench_rows_mq[], bench_rows_libipc[],
                         bench_rows_tls[];
extern const size_t bench_nrows_raw, bench_nrows_mq, bench_nrows_libipc, bench_nrows_tls;

/* helpers the row files share (harness.c; the pipe and FIFO ones rows-raw.c) */
int64_t now_ns(void);
void    progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void    put_be32(unsigned char *p, uint32_t v);
uint32_t get_be32(const unsigned char *p);
int     spin_step(unsigned *n);
int     pin_to(int cpu);
int     close_fd(int *fd);
void    dir_path(char *out, size_t cap, const char *name);
void    no_cleanup(struct run *r);   /* closes the channels left in r->ch */
int     rv_send(struct run *r, const char *s);
int     rv_recv(struct run *r, char *out, size_t cap);
int     pipe_raw_prepare(struct run *r);   /* two pipes in r->fd */
void    fd_cleanup(struct run *r);
void    fifo_cleanup(struct run *r);
/* the socket rows' pieces that other families build on */
extern const struct ep_ops bench_lib_ops;   /* ipc_send / ipc_recv (rows-libipc.c) */
void    sock_lib_cleanup(struct run *r);
void    raw_close(struct ep *e);            /* rows-raw.c */
int     tcp_raw_prepare(struct run *r);
int     sock_raw_attach(struct run *r, int child, struct ep *e);
void    sock_raw_cleanup(struct run *r);

/* ------------------------------------------------------------ results */

struct result {
	char transport[NAME_LEN], impl[NAME_LEN];
	int round;
	int ok;
	int has_lat;
	size_t size;
	double p50_us, p99_us, msgs, mbs;
	long lat_n, tput_n;
};

struct skip {
	char transport[NAME_LEN], impl[NAME_LEN];
	int round;
	char why[160];
};

/* What the placement looked like in one round: the busy-poll floor's own
 * 64 B figures, measured at the start of the round. */
struct floor_probe {
	int ok;
	double p50_us, msgs;
};

struct bench_results {
	struct result *res;
	int nres, cap;
	struct skip *skips;
	int nskips, skipcap;
	struct floor_probe floor[MAX_ROUNDS];
	double memcpy_mbs[2];             /* 64 KiB and 1 MiB blocks */
	double sig_p50_us, sig_p99_us;
	int sig_done;
	char sys_date[64], sys_kernel[300], sys_cpu[160], sys_place[160];
};
extern struct bench_results B;

/* harness.c: the rows in run order, rounds, the child process */
int     bench_rows_init(void);
const struct impl *bench_row(size_t i);   /* NULL past the end */
size_t  bench_nrows(void);
const struct impl *bench_find_row(const char *transport, const char *impl);
void    bench_run_rounds(int (*selected)(const char *transport, const char *impl),
                         int64_t *lat);
extern volatile pid_t child_pid, measurer_pid;
void    on_terminate(int sig);
void    on_alarm(int sig);
void    watchdog(unsigned s);
int     reap(pid_t pid);          /* bounded: ask, wait, then kill */
int     cmp_i64(const void *a, const void *b);

/* report.c: statistics over rounds, tables, JSON */
void print_table(void);
void print_seed_table(void);
void print_json(void);
void fmt_size(char *out, size_t cap, size_t size);

/* raw measurements beside the rows (rows-raw.c) */
void measure_memcpy(void);
void measure_signal(int64_t *lat);

#endif
