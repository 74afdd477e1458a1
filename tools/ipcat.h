/* ipcat: a netcat for libipc URIs. Shared between its files; uses only the
 * public API (<ipc/ipc.h>) and POSIX, like any other client of the library. */
#ifndef IPCAT_H
#define IPCAT_H

#include <ipc/ipc.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit statuses, as documented in ipcat(1). */
enum { CAT_OK = 0, CAT_ERROR = 1, CAT_USAGE = 2 };

/* How stdin is cut into messages. */
enum cat_split { SPLIT_LINE, SPLIT_NUL, SPLIT_WHOLE, SPLIT_RAW };

/* Which way data flows on the channel ("-S", "-R", or both). */
enum { DIR_SEND = 1, DIR_RECV = 2 };

struct cat_opts {
	const char  *uri;          /* the URI, or the command's name with --pipe */
	char       **pipe_argv;    /* --pipe CMD ARGS... (NULL otherwise) */
	int          listen;       /* -l */
	int          keep;         /* --keep: peers one after another */
	int          all;          /* --all / --fork: peers at the same time */
	int          dir;          /* DIR_SEND | DIR_RECV wanted (0: from the transport) */
	enum cat_split split;
	int          hex, size;    /* --hex, --size */
	int          echo;         /* --echo */
	int          stats;        /* --stats */
	int          print_addr;   /* --print-addr */
	long long    count;        /* -n, -1: no limit */
	int          timeout_ms;   /* -t, -1: none */
	int          create;       /* --create */
	int          any_uid;      /* --any-uid */
	ipc_options  opt;          /* --max-msg, --capacity, --mode, --open-timeout */
	struct ipc_tls tls;        /* --cert, --key, --ca, --server-name,
	                              --require-client-cert, --tls1.2; opt.tls
	                              points here only when one of them is given */
	int          tls_set;      /* one of the TLS options was given */
	int          is_tls;       /* the URI is tls+tcp:// */
};

struct cat_stats {
	uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
	int64_t  start_ns;
};

/* Everything the event loop needs, in one place. */
struct cat {
	const struct cat_opts *o;
	ipc_sigwatch *w;          /* SIGINT, SIGTERM, SIGHUP, SIGUSR1 (+ SIGCHLD) */
	sigset_t      oldmask;    /* the mask before the watcher, for children */
	ipc_channel  *in;         /* stdin as fd:0 in IPC_RAW, NULL when not read */
	int           in_eof;
	char         *ibuf;       /* stdin bytes not yet sent: ibuf[ioff..ilen) */
	size_t        ioff, ilen, icap;
	size_t        iscan;      /* bytes past ioff known to hold no separator */
	size_t        ipend;      /* bytes io_next() handed out, for io_consume() */
	int           whole_done; /* --whole: the one message has been taken */
	size_t        ilimit;     /* largest message stdin may make */
	ipc_channel  *out;        /* stdout as fd:1 in IPC_RAW */
	char         *obuf;       /* formatted output not yet written */
	size_t        olen, ocap;
	char         *rbuf;       /* what the channel delivers, before it is printed */
	size_t        rcap;
	int           reads_stdin;/* stdin feeds the channel (not -R, not --echo) */
	int           count_sent; /* -n counts messages sent (a send-only channel) */
	int           stop;       /* a signal asked us to end */
	long long     received, sent;
	struct cat_stats st;
};

/* One peer: the channel it receives on and the one it sends on (the same
 * channel on two-way transports; two with --pipe; one NULL one-way). */
struct cat_peer {
	ipc_channel *rx, *tx;
};

/* ipcat-io.c: stdin cut into messages, stdout formatting. */
int  io_open(struct cat *c, int read_stdin);
void io_close(struct cat *c);
int  io_fill(struct cat *c);                    /* 1 read, 0 nothing yet, IPC_EOF, <0 */
int  io_next(struct cat *c, const char **msg, size_t *len);
void io_consume(struct cat *c);
int  io_emit(struct cat *c, const void *msg, size_t len);
int  io_flush(struct cat *c);                   /* 0, or a negative code; c->stop on a signal */

/* ipcat-loop.c: signals and the session loop. */
int  loop_signal(struct cat *c, const struct ipc_siginfo *si);
int  loop_wait_out(struct cat *c, ipc_channel *ch, int timeout_ms);
int  loop_serve(struct cat *c, ipc_listener *l, struct cat_peer *first,
                const char *uri);
void loop_stats(const struct cat *c);
int  cat_fail(const char *what, int rc);        /* prints one line, returns CAT_ERROR */
void loop_peer_cert(const struct cat *c, const ipc_channel *ch);  /* --print-addr, TLS */

/* ipcat-pipe.c: --pipe CMD, a child with a framed channel on its stdin/stdout. */
int  pipe_spawn(struct cat *c, char **argv, struct cat_peer *p, pid_t *child);
int  pipe_reap(struct cat *c, pid_t child, const char *name);

int64_t cat_now_ns(void);

#endif
