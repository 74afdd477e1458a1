/* ipcat: a netcat for libipc URIs. Options, the choice of mode (open or
 * connect, listen, --pipe) and the exit status; the event loop is in
 * ipcat-loop.c, stdin and stdout in ipcat-io.c, --pipe in ipcat-pipe.c.
 *
 *   seq 3 | ipcat fifo:/tmp/demo        ipcat -l --create fifo:/tmp/demo
 *   ipcat -l --print-addr tcp://127.0.0.1:0      ipcat tcp://127.0.0.1:PORT */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ipcat.h"

#define OPEN_SLICE_MS 100   /* a waiting open looks at signals this often */

static void
usage(FILE *f)
{
	fprintf(f,
	"usage: ipcat [OPTIONS] URI             open or connect, stdin to the channel, the channel to stdout\n"
	"       ipcat -l [OPTIONS] URI          listen (tcp:, tls+tcp:, unix:), or the receiving / creating side\n"
	"       ipcat [OPTIONS] --pipe CMD [ARG...]  run CMD with a channel on its stdin and stdout\n"
	"\n"
	"  -l, --listen          serve one peer (with -k / --all: many) or take the receiving side\n"
	"  -k, --keep            after a peer ends, accept the next one\n"
	"      --all, --fork     serve up to 64 peers at the same time\n"
	"  -S, --send-only       only send (stdin to the channel)\n"
	"  -R, --recv-only       only receive (the channel to stdout); stdin is not read\n"
	"  -0, --null            NUL, not newline, ends a message in and out\n"
	"      --whole           all of stdin is one message\n"
	"      --raw             no framing (IPC_RAW): bytes in, bytes out, as nc\n"
	"  -x, --hex             print what arrives as hex dumps\n"
	"      --size            print each message's length before it\n"
	"  -e, --echo            send back every message that arrives (stdin is not read)\n"
	"  -n, --count N         stop after N messages received (sent, on a send-only channel)\n"
	"  -t, --timeout MS      fail when the channel is idle for MS (each wait, each send)\n"
	"      --open-timeout MS bound connect / FIFO rendezvous / shm attach\n"
	"      --max-msg N       largest message accepted (K, M, G suffixes)\n"
	"      --capacity N      shm ring bytes per direction\n"
	"      --mode OCTAL      permissions of a created FIFO, shm object or socket file\n"
	"  -c, --create          create the FIFO or shm object (removed at exit)\n"
	"      --any-uid         unix listener: accept peers of any uid\n"
	"      --print-addr      print the bound or opened URI on stderr (port 0 -> the port)\n"
	"      --stats           print counts and rates on stderr at exit and on SIGUSR1\n"
	"\n"
	"TLS (tls+tcp:// only; see ipc-tls(7)):\n"
	"      --cert FILE       own certificate chain, PEM (required on a listener)\n"
	"      --key FILE        its private key, PEM, mode 0600 (default: the --cert file)\n"
	"      --ca FILE         trusted CAs, PEM (default: the system's store)\n"
	"      --server-name NAME  the name to verify in the listener's certificate\n"
	"      --require-client-cert  listener: refuse clients without a valid certificate\n"
	"      --tls1.2          allow TLS 1.2 too (default: TLS 1.3 only)\n"
	"  With --print-addr, each TLS peer's subject and SHA-256 fingerprint go to stderr.\n"
	"\n"
	"  -h, --help            this text\n"
	"  -V, --version         the library's version\n"
	"\n"
	"Exit status: 0 orderly end (or SIGINT/SIGTERM/SIGHUP), 1 error, 2 usage error.\n"
	"See ipcat(1).\n");
}

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ipcat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ipcat --help'.\n");
	return CAT_USAGE;
}

/* A non-negative number, with an optional K/M/G (x1024) suffix. */
static int
parse_num(const char *s, int base, int suffix, unsigned long long max, unsigned long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno)
		return -EINVAL;
	if (suffix && *end) {
		switch (*end++) {
		case 'k': case 'K': mul = 1ull << 10; break;
		case 'm': case 'M': mul = 1ull << 20; break;
		case 'g': case 'G': mul = 1ull << 30; break;
		default: return -EINVAL;
		}
	}
	if (*end || (v && mul > max / v) || v * mul > max)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

enum {
	OPT_WHOLE = 256, OPT_RAW, OPT_SIZE, OPT_ALL, OPT_STATS, OPT_PRINT_ADDR,
	OPT_OPEN_TIMEOUT, OPT_MAX_MSG, OPT_CAPACITY, OPT_MODE, OPT_ANY_UID, OPT_PIPE,
	OPT_CERT, OPT_KEY, OPT_CA, OPT_SERVER_NAME, OPT_REQUIRE_CLIENT_CERT, OPT_TLS12,
};

#define TLS_SCHEME "tls+tcp://"

static const struct option long_opts[] = {
	{ "listen",       no_argument,       NULL, 'l' },
	{ "keep",         no_argument,       NULL, 'k' },
	{ "all",          no_argument,       NULL, OPT_ALL },
	{ "fork",         no_argument,       NULL, OPT_ALL },
	{ "send-only",    no_argument,       NULL, 'S' },
	{ "recv-only",    no_argument,       NULL, 'R' },
	{ "null",         no_argument,       NULL, '0' },
	{ "whole",        no_argument,       NULL, OPT_WHOLE },
	{ "raw",          no_argument,       NULL, OPT_RAW },
	{ "hex",          no_argument,       NULL, 'x' },
	{ "size",         no_argument,       NULL, OPT_SIZE },
	{ "echo",         no_argument,       NULL, 'e' },
	{ "count",        required_argument, NULL, 'n' },
	{ "timeout",      required_argument, NULL, 't' },
	{ "open-timeout", required_argument, NULL, OPT_OPEN_TIMEOUT },
	{ "max-msg",      required_argument, NULL, OPT_MAX_MSG },
	{ "capacity",     required_argument, NULL, OPT_CAPACITY },
	{ "mode",         required_argument, NULL, OPT_MODE },
	{ "create",       no_argument,       NULL, 'c' },
	{ "any-uid",      no_argument,       NULL, OPT_ANY_UID },
	{ "print-addr",   no_argument,       NULL, OPT_PRINT_ADDR },
	{ "stats",        no_argument,       NULL, OPT_STATS },
	{ "pipe",         no_argument,       NULL, OPT_PIPE },
	{ "help",         no_argument,       NULL, 'h' },
	{ "version",      no_argument,       NULL, 'V' },
	{ "cert",         required_argument, NULL, OPT_CERT },
	{ "key",          required_argument, NULL, OPT_KEY },
	{ "ca",           required_argument, NULL, OPT_CA },
	{ "server-name",  required_argument, NULL, OPT_SERVER_NAME },
	{ "require-client-cert", no_argument, NULL, OPT_REQUIRE_CLIENT_CERT },
	{ "tls1.2",       no_argument,       NULL, OPT_TLS12 },
	{ NULL, 0, NULL, 0 },
};

/* @return -1 parsed, else the exit status (help, version, usage error). */
static int
parse_args(int argc, char **argv, struct cat_opts *o)
{
	const char *optstr = "lkSR0xen:t:chV";
	unsigned long long v;
	int ch, i, split_set = 0, pipe = 0;

	*o = (struct cat_opts){ .count = -1, .timeout_ms = -1, .split = SPLIT_LINE,
	                        .opt = IPC_OPTIONS_INIT, .tls = IPC_TLS_INIT };
	/* Options may follow the URI, but with --pipe the first operand starts
	 * the command: '+' stops there, so that --pipe CMD -x keeps CMD's -x. */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--pipe"))
			optstr = "+lkSR0xen:t:chV";
	while ((ch = getopt_long(argc, argv, optstr, long_opts, NULL)) != -1) {
		enum cat_split sp = SPLIT_LINE;

		switch (ch) {
		case 'l': o->listen = 1; break;
		case 'k': o->keep = 1; break;
		case OPT_ALL: o->all = 1; break;
		case 'S': o->dir |= DIR_SEND; break;
		case 'R': o->dir |= DIR_RECV; break;
		case 'x': o->hex = 1; break;
		case OPT_SIZE: o->size = 1; break;
		case 'e': o->echo = 1; break;
		case 'c': o->create = 1; break;
		case OPT_ANY_UID: o->any_uid = 1; break;
		case OPT_PRINT_ADDR: o->print_addr = 1; break;
		case OPT_STATS: o->stats = 1; break;
		case OPT_PIPE: pipe = 1; break;
		case OPT_CERT: o->tls.cert_file = optarg; o->tls_set = 1; break;
		case OPT_KEY: o->tls.key_file = optarg; o->tls_set = 1; break;
		case OPT_CA: o->tls.ca_file = optarg; o->tls_set = 1; break;
		case OPT_SERVER_NAME: o->tls.server_name = optarg; o->tls_set = 1; break;
		case OPT_REQUIRE_CLIENT_CERT:
			o->tls.flags |= IPC_TLS_REQUIRE_CLIENT_CERT;
			o->tls_set = 1;
			break;
		case OPT_TLS12: o->tls.flags |= IPC_TLS_1_2; o->tls_set = 1; break;
		case '0': sp = SPLIT_NUL; goto split;
		case OPT_WHOLE: sp = SPLIT_WHOLE; goto split;
		case OPT_RAW: sp = SPLIT_RAW;
		split:
			if (split_set && o->split != sp)
				return usage_error("%s", "-0, --whole and --raw exclude each other");
			o->split = sp;
			split_set = 1;
			break;
		case 'n':
			if (parse_num(optarg, 10, 0, LLONG_MAX, &v) < 0 || v == 0)
				return usage_error("bad count '%s' (1 or more)", optarg);
			o->count = (long long)v;
			break;
		case 't':
		case OPT_OPEN_TIMEOUT:
			if (parse_num(optarg, 10, 0, INT_MAX, &v) < 0)
				return usage_error("bad time in milliseconds '%s'", optarg);
			if (ch == 't')
				o->timeout_ms = (int)v;
			else
				o->opt.open_timeout_ms = (int)v;   /* 0: forever, the default */
			break;
		case OPT_MAX_MSG:
		case OPT_CAPACITY:
			if (parse_num(optarg, 10, 1, ch == OPT_MAX_MSG ? IPC_MSG_LIMIT : 1ull << 30, &v) < 0 ||
			    v == 0)
				return usage_error("bad size '%s'", optarg);
			if (ch == OPT_MAX_MSG)
				o->opt.max_msg = (size_t)v;
			else
				o->opt.capacity = (size_t)v;
			break;
		case OPT_MODE:
			if (parse_num(optarg, 8, 0, 07777, &v) < 0 || v == 0)
				return usage_error("bad mode '%s' (octal, e.g. 0600)", optarg);
			o->opt.mode = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return CAT_OK;
		case 'V':
			printf("ipcat (libipc %s)\n", ipc_version());
			return CAT_OK;
		default:
			fprintf(stderr, "Try 'ipcat --help'.\n");
			return CAT_USAGE;
		}
	}
	if (pipe) {
		if (optind >= argc)
			return usage_error("%s", "--pipe needs a command");
		if (o->listen || o->keep || o->all)
			return usage_error("%s", "--pipe runs a command: -l, --keep and --all do not apply");
		o->pipe_argv = argv + optind;
		o->uri = argv[optind];
	} else {
		if (optind != argc - 1)
			return usage_error("%s", optind >= argc ? "a URI is needed" : "one URI only");
		o->uri = argv[optind];
	}
	if ((o->keep || o->all) && !o->listen)
		return usage_error("%s", "--keep and --all serve peers: they need -l");
	if (o->keep && o->all)
		return usage_error("%s", "--keep (one after another) or --all (together), not both");
	if (o->dir == (DIR_SEND | DIR_RECV))
		o->dir = 0;
	if (o->echo && o->dir)
		return usage_error("%s", "--echo sends and receives: not with -S or -R");
	o->is_tls = !o->pipe_argv && !strncmp(o->uri, TLS_SCHEME, strlen(TLS_SCHEME));
	if (o->tls_set) {
		/* The library would ignore them on any other scheme: say so
		 * rather than run in plaintext with the user thinking otherwise. */
		if (!o->is_tls)
			return usage_error("--cert, --key, --ca, --server-name, --require-client-cert "
			                   "and --tls1.2 need a " TLS_SCHEME " URI, not %s", o->uri);
		o->opt.tls = &o->tls;
	}
	return -1;
}

/* One-way transports: a FIFO, or one inherited descriptor that is not a
 * socket. The sender is the opener, the receiver the -l side. */
static int
one_way(const char *uri)
{
	struct stat st;
	char *end;
	long fd;

	if (!strncmp(uri, "fifo:", 5))
		return 1;
	if (strncmp(uri, "fd:", 3))
		return 0;
	fd = strtol(uri + 3, &end, 10);
	if (end == uri + 3 || *end || fd < 0 || fd > INT_MAX)
		return 0;               /* "fd:R,W" is two-way; bad ones fail at open */
	return fstat((int)fd, &st) == 0 && !S_ISSOCK(st.st_mode);
}

static int
channel_flags(const struct cat_opts *o)
{
	return ((o->dir & DIR_SEND) ? IPC_SEND : 0) | ((o->dir & DIR_RECV) ? IPC_RECV : 0) |
	       (o->split == SPLIT_RAW ? IPC_RAW : 0) | (o->create ? IPC_CREATE : 0);
}

/* ipc_open, but a wait (FIFO rendezvous, connect, shm attach) is cut into
 * slices so that SIGINT/SIGTERM still end us. @return 0, 1 when a signal
 * stopped us, or a negative code. */
static int
open_watched(struct cat *c, ipc_channel **ch)
{
	const struct cat_opts *o = c->o;
	int total = o->opt.open_timeout_ms, flags = channel_flags(o), rc;
	int64_t deadline = total > 0 ? cat_now_ns() + (int64_t)total * 1000000 : -1;
	ipc_options opt = o->opt;
	struct ipc_siginfo si;

	/* Creating is not waiting, and a creating FIFO writer that timed out
	 * would remove and re-make the FIFO under a reader: one call. A
	 * connection (tcp://, tls+tcp://, unix:) too: a slice that ran out
	 * during the handshake or hello would leave a connection the listener
	 * already took as its peer, and the retry would be a second client
	 * (refused by a one-peer listener). Signals wait until it returns. */
	if (o->create || !strncmp(o->uri, "tcp://", 6) || o->is_tls || !strncmp(o->uri, "unix:", 5))
		return ipc_open(ch, o->uri, flags, &o->opt);
	for (;;) {
		int left = deadline < 0 ? OPEN_SLICE_MS
		           : (int)((deadline - cat_now_ns()) / 1000000);

		if (left <= 0)
			return -ETIMEDOUT;
		opt.open_timeout_ms = left < OPEN_SLICE_MS ? left : OPEN_SLICE_MS;
		rc = ipc_open(ch, o->uri, flags, &opt);
		if (rc != -ETIMEDOUT)
			return rc;
		while (ipc_sigwatch_read(c->w, &si, 0) == 0)
			loop_signal(c, &si);
		if (c->stop)
			return 1;
	}
}

static int
run(struct cat *c, struct cat_opts *o)
{
	struct cat_peer peer = { NULL, NULL };
	ipc_listener *l = NULL;
	ipc_channel *ch = NULL;
	char addr[512];
	pid_t child = -1;
	int rc, status;

	if (o->pipe_argv) {
		if ((status = pipe_spawn(c, o->pipe_argv, &peer, &child)) != CAT_OK) {
			ipc_close(peer.rx);
			if (child > 0) {
				c->stop = 1;    /* so that pipe_reap() ends it */
				pipe_reap(c, child, o->uri);
			}
			return status;
		}
		status = loop_serve(c, NULL, &peer, o->uri);
		rc = pipe_reap(c, child, o->uri);
		return status != CAT_OK ? status : rc;
	}
	if (o->listen) {
		rc = ipc_listen(&l, o->uri, (o->split == SPLIT_RAW ? IPC_RAW : 0) |
		                (o->any_uid ? IPC_ANY_UID : 0), &o->opt);
		if (rc == 0) {
			if (o->print_addr && (rc = ipc_listener_addr(l, addr, sizeof(addr))) >= 0) {
				fprintf(stderr, "%s\n", addr);
				fflush(stderr);
			}
			return loop_serve(c, l, NULL, o->uri);
		}
		if (rc != -EOPNOTSUPP)
			return cat_fail(o->uri, rc);
		if (o->keep || o->all)
			return usage_error("%s", "--keep and --all need a transport that accepts "
			                   "peers (tcp://, tls+tcp://, unix:)");
	}
	/* Open (or connect): FIFOs, shm, fd:, and the connecting side of tcp/unix. */
	if ((rc = open_watched(c, &ch)) == 1)
		return CAT_OK;
	if (rc < 0)
		return cat_fail(o->uri, rc);
	if (o->print_addr) {
		fprintf(stderr, "%s\n", o->uri);
		fflush(stderr);
		loop_peer_cert(c, ch);
	}
	peer.rx = (o->dir & DIR_RECV) ? ch : NULL;
	peer.tx = (o->dir & DIR_SEND) ? ch : NULL;
	return loop_serve(c, NULL, &peer, o->uri);
}

int
main(int argc, char **argv)
{
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD };
	struct cat_opts o;
	struct cat c = { .o = &o };
	sigset_t set;
	size_t i;
	int rc, status;

	/* ipcat writes to stdout and the channel through the library (never a
	 * SIGPIPE); this is for stderr, which may be a closed pipe too. */
	signal(SIGPIPE, SIG_IGN);
	if ((status = parse_args(argc, argv, &o)) >= 0)
		return status;
	if (!o.dir)
		o.dir = o.pipe_argv || !one_way(o.uri) ? DIR_SEND | DIR_RECV
		        : o.listen ? DIR_RECV : DIR_SEND;
	if (o.echo && o.dir != (DIR_SEND | DIR_RECV))
		return usage_error("--echo needs a two-way channel, not %s", o.uri);
	c.reads_stdin = !o.echo && (o.dir & DIR_SEND);
	c.count_sent = !(o.dir & DIR_RECV);
	c.st.start_ns = cat_now_ns();

	/* Block the set ourselves first: ipc_sigwatch_close() then restores a
	 * mask that still blocks it, so a second SIGTERM while we clean up
	 * (timeout(1) sends one to its child and one to its process group)
	 * cannot kill us half-way. Children get the mask we started with. */
	sigemptyset(&set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, &c.oldmask);
	/* SIGCHLD only for --pipe: an ignored-by-default signal we do not need
	 * would stay blocked in children of ours otherwise. */
	if ((rc = ipc_sigwatch_open(&c.w, sigs, o.pipe_argv ? 5 : 4)) < 0)
		return cat_fail("signals", rc);
	if ((status = io_open(&c, c.reads_stdin)) == CAT_OK)
		status = run(&c, &o);
	if (o.stats)
		loop_stats(&c);
	io_close(&c);
	ipc_sigwatch_close(c.w);
	return status;
}
