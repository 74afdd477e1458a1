/* Fuzz target: URIs, flags and options into ipc_open() and ipc_listen().
 *
 *   u8  call   bits 0-1: 0 ipc_open; 1 ipc_listen; 2 ipc_open, then ipc_open
 *              again (flags2) on the same URI; 3 ipc_listen twice, then
 *              ipc_open (flags2) on it
 *              bits 2-3: ipc_options.size: sizeof, one less, 8 more (zero),
 *              8 more with a non-zero byte; bit 4: opt NULL for ipc_listen
 *   u8  flags  bits 0-4 IPC_SEND .. IPC_ANY_UID, bit 7 an unknown flag
 *   u8  flags2 the same, for the second call
 *   u32 max_msg
 *   u32 capacity   top bit set: taken as is (refused: above 1 GiB); else
 *                  its low 20 bits, so that no input reserves more than
 *                  2 MiB of /dev/shm
 *   u16 mode
 *   u8  open_timeout_ms, signed: < -1 as is (refused), else 1..10 ms (a
 *       FIFO writer or a connector never waits long)
 *   the URI, up to a NUL or the end
 *
 * The run happens in a private directory (the current directory during the
 * call, so relative paths land there). What could reach outside is
 * rewritten or skipped, never passed on: absolute fifo:/unix: paths move
 * into the directory, ".." is skipped, shm names and abstract unix names get
 * a per-process prefix, the numbers of fd: URIs pick among descriptors made
 * for this input, tcp hosts other than 127.0.0.1, [::1] and localhost are
 * skipped, and a tcp port becomes 0 for ipc_listen and, for ipc_open, a
 * port this process holds bound without listening (connect is refused: no
 * connection to any other program, none in TIME_WAIT).
 *
 * Checked: no crash, every descriptor closed, nothing left in the directory
 * or under /dev/shm, return codes negative errnos, and a listener's address
 * fits what ipc_listener_addr() says. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipc/ipc.h>

#include "fuzz-common.h"

#define URI_MAX 700
#define NFDS    6

static int closed_port;         /* bound, never listening: connect is refused */
static int cwd_fd = -1;

static void
setup_once(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len;
	int fd, off = 0;

	if (cwd_fd >= 0)
		return;
	if ((cwd_fd = open(".", O_PATH | O_CLOEXEC)) < 0)
		fz_fail("open .: %s", strerror(errno));
	fz_dir();
	/* One port held on every address (v4 and v6), so that "localhost"
	 * meets it whichever family the resolver gives first. */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
	    bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0) {
		len = sizeof(s6);
		getsockname(fd, (struct sockaddr *)&s6, &len);
		closed_port = ntohs(s6.sin6_port);
		return;     /* kept open for the life of the process */
	}
	if (fd >= 0)
		close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&s4, sizeof(s4)) < 0)
		fz_fail("cannot hold a tcp port: %s", strerror(errno));
	len = sizeof(s4);
	getsockname(fd, (struct sockaddr *)&s4, &len);
	closed_port = ntohs(s4.sin_port);
}

/* ------------------------------------------------------------ rewriting */

struct fdset {
	int fd[NFDS];
};

static void
fdset_make(struct fdset *s)
{
	int p[2], sv[2];

	if (pipe2(p, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fz_fail("pipe/socketpair: %s", strerror(errno));
	s->fd[0] = p[0];
	s->fd[1] = p[1];
	s->fd[2] = sv[0];
	s->fd[3] = sv[1];
	s->fd[4] = open("/dev/null", O_RDWR | O_CLOEXEC);
	s->fd[5] = memfd_create("ipc-fuzz-open", MFD_CLOEXEC);
	if (s->fd[4] < 0 || s->fd[5] < 0)
		fz_fail("/dev/null, memfd: %s", strerror(errno));
}

/* What a channel took over it closed; the rest is ours to close. Every
 * channel is closed by now, so a number still open is one of these. */
static void
fdset_close(struct fdset *s)
{
	int i;

	for (i = 0; i < NFDS; i++)
		if (fcntl(s->fd[i], F_GETFD) >= 0)
			close(s->fd[i]);
}

static int
put(char *out, size_t *o, const char *s, size_t n)
{
	if (*o + n >= URI_MAX)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = 0;
	return 0;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

/* "//host:port": only loopback hosts, only our ports. -1: skip the input. */
static int
rewrite_tcp(const char *a, char *out, size_t *o, int listening)
{
	const char *h, *he, *p;
	char port[16];
	unsigned long v = 0;
	size_t i, hl;

	if (strncmp(a, "//", 2) != 0)
		return put(out, o, a, strlen(a));   /* refused by the parser */
	h = a + 2;
	if (*h == '[') {
		if (!(he = strchr(h, ']')) || he[1] != ':')
			return put(out, o, a, strlen(a));
		p = he + 2;
		he++;
	} else {
		if (!(he = strrchr(h, ':')) || memchr(h, ':', (size_t)(he - h)) || he == h)
			return put(out, o, a, strlen(a));
		p = he + 1;
	}
	hl = (size_t)(he - h);
	if (!((hl == 9 && !memcmp(h, "127.0.0.1", 9)) || (hl == 5 && !memcmp(h, "[::1]", 5)) ||
	      (hl == 9 && !memcmp(h, "localhost", 9))))
		return -1;      /* never another host, never "*" */
	if (!all_digits(p, strlen(p)))
		return put(out, o, a, strlen(a));
	for (i = 0; p[i] && v <= 65535; i++)
		v = v * 10 + (unsigned long)(p[i] - '0');
	if (v > 65535)
		return put(out, o, a, strlen(a));
	snprintf(port, sizeof(port), "%d", listening ? 0 : closed_port);
	if (put(out, o, a, (size_t)(p - a)) < 0)
		return -1;
	return put(out, o, port, strlen(port));
}

/* A path: absolute ones move into our directory; ".." is never followed. */
static int
rewrite_path(const char *a, char *out, size_t *o)
{
	if (strstr(a, ".."))
		return -1;
	if (a[0] == '/' && put(out, o, fz_dir(), strlen(fz_dir())) < 0)
		return -1;
	return put(out, o, a, strlen(a));
}

/* Each run of digits picks one of our descriptors (or one that is closed). */
static int
rewrite_fd(const char *a, char *out, size_t *o, const struct fdset *s)
{
	char num[16];

	while (*a) {
		if (*a >= '0' && *a <= '9') {
			unsigned long v = 0;

			for (; *a >= '0' && *a <= '9'; a++)
				v = (v * 10 + (unsigned long)(*a - '0')) % 1000;
			if (v % (NFDS + 1) == NFDS)
				snprintf(num, sizeof(num), "%d", 1 << 20);     /* never open */
			else
				snprintf(num, sizeof(num), "%d", s->fd[v % (NFDS + 1)]);
			if (put(out, o, num, strlen(num)) < 0)
				return -1;
		} else if (put(out, o, a++, 1) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
rewrite(const char *uri, char *out, int listening, const struct fdset *s)
{
	const char *p = uri, *a;
	char prefix[64];
	size_t o = 0, sl;

	out[0] = 0;
	if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
			p++;
	if (p == uri || *p != ':')
		return put(out, &o, uri, strlen(uri));  /* no scheme: refused */
	sl = (size_t)(p - uri);
	a = p + 1;
	if (put(out, &o, uri, sl + 1) < 0)
		return -1;
	/* Any scheme that ends in "tcp" (tcp, tls+tcp) reaches the network. */
	if (sl >= 3 && !memcmp(p - 3, "tcp", 3))
		return rewrite_tcp(a, out, &o, listening);
	if (sl == 4 && !memcmp(uri, "unix", 4)) {
		if (a[0] == '@' && a[1]) {
			snprintf(prefix, sizeof(prefix), "@ipc-fuzz-%ld-", (long)getpid());
			if (put(out, &o, prefix, strlen(prefix)) < 0)
				return -1;
			return put(out, &o, a + 1, strlen(a + 1));
		}
		return rewrite_path(a, out, &o);
	}
	if (sl == 4 && !memcmp(uri, "fifo", 4))
		return rewrite_path(a, out, &o);
	if (sl == 3 && !memcmp(uri, "shm", 3)) {
		if (a[0] == '/' && a[1]) {
			if (put(out, &o, fz_shm_prefix(), strlen(fz_shm_prefix())) < 0)
				return -1;
			return put(out, &o, a + 1, strlen(a + 1));
		}
		return put(out, &o, a, strlen(a));
	}
	if (sl == 2 && !memcmp(uri, "fd", 2))
		return rewrite_fd(a, out, &o, s);
	if (sl == 4 && !memcmp(uri, "pipe", 4))
		return put(out, &o, a, strlen(a));
	return -1;      /* a transport this target does not know: it might reach out */
}

/* ------------------------------------------------------------ the calls */

static int
fuzz_flags(unsigned b)
{
	return (int)(b & 0x1f) | (b & 0x80 ? 1 << 9 : 0);
}

static void
check_rc(int rc, const char *call, const char *uri)
{
	FZ_ASSERT(rc <= 0 && (rc == IPC_EOF || rc > -4096), "%s(%s): %d is no return code",
	          call, uri, rc);
}

/* A little traffic on what opened: none of it may crash or block. */
static void
exercise(ipc_channel **ch, int n)
{
	char buf[16];
	ssize_t r;
	int i;

	for (i = 0; i < n; i++)
		if (ch[i]) {
			r = ipc_send(ch[i], "x", 1, 0);
			FZ_ASSERT(r == 1 || (r < 0 && r >= -4096), "ipc_send: %zd", r);
			ipc_fd(ch[i]);
		}
	for (i = 0; i < n; i++)
		if (ch[i]) {
			r = ipc_recv(ch[i], buf, sizeof(buf), 0);
			FZ_ASSERT(r <= (ssize_t)sizeof(buf) && r >= -4096, "ipc_recv: %zd", r);
		}
}

static void
exercise_listener(ipc_listener *l)
{
	char addr[256];
	ipc_channel *ch = NULL;
	int rc = ipc_listener_addr(l, addr, sizeof(addr));

	FZ_ASSERT(rc > 0 && (size_t)rc == strlen(addr), "ipc_listener_addr: %d", rc);
	rc = ipc_listener_addr(l, addr, 3);
	FZ_ASSERT(rc == -ENOSPC, "ipc_listener_addr into 3 bytes: %d", rc);
	FZ_ASSERT(ipc_listener_fd(l) >= 0, "ipc_listener_fd failed");
	rc = ipc_accept(l, &ch, 0);
	if (rc == 0) {
		exercise(&ch, 1);
		ipc_close(ch);
	} else {
		check_rc(rc, "ipc_accept", addr);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	unsigned call, flags, flags2, b;
	ipc_options opt[2];     /* room for "size larger than we know" */
	ipc_channel *ch[3] = { NULL, NULL, NULL };
	ipc_listener *l[2] = { NULL, NULL };
	char uri[URI_MAX], out[URI_MAX];
	const uint8_t *u;
	const char *left;
	struct fdset fds;
	uint32_t cap;
	size_t n, i;
	int before, rc, t;

	setup_once();
	before = fz_fd_count();
	call = fz_u8(&f);
	flags = fz_u8(&f);
	flags2 = fz_u8(&f);
	memset(opt, 0, sizeof(opt));
	opt[0].max_msg = fz_u32(&f);
	cap = fz_u32(&f);
	opt[0].capacity = cap & 0x80000000u ? (cap == 0xffffffffu ? (size_t)-1 : cap)
	                                    : cap & 0xfffff;
	opt[0].mode = fz_u16(&f);
	t = (int8_t)fz_u8(&f);
	opt[0].open_timeout_ms = t < -1 ? t : 1 + (t & 0xff) % 10;
	switch ((call >> 2) & 3) {
	case 0: opt[0].size = sizeof(ipc_options); break;
	case 1: opt[0].size = sizeof(ipc_options) - 1; break;
	case 2: opt[0].size = sizeof(ipc_options) + 8; break;
	default:
		opt[0].size = sizeof(ipc_options) + 8;
		((unsigned char *)&opt[1])[3] = 1;
	}
	u = fz_bytes(&f, URI_MAX - 1, &n);
	for (i = 0; i < n && u[i]; i++)
		uri[i] = (char)u[i];
	uri[i] = 0;

	fdset_make(&fds);
	if (rewrite(uri, out, (call & 1) != 0, &fds) < 0) {
		fdset_close(&fds);
		return 0;   /* would reach outside the sandbox */
	}
	if (chdir(fz_dir()) < 0)
		fz_fail("chdir: %s", strerror(errno));
	b = call & 3;
	if (b == 0 || b == 2) {
		rc = ipc_open(&ch[0], out, fuzz_flags(flags), &opt[0]);
		check_rc(rc, "ipc_open", out);
		if (b == 2) {
			rc = ipc_open(&ch[1], out, fuzz_flags(flags2), &opt[0]);
			check_rc(rc, "ipc_open (second)", out);
		}
	} else {
		const ipc_options *o = call & 16 ? NULL : &opt[0];

		rc = ipc_listen(&l[0], out, fuzz_flags(flags), o);
		check_rc(rc, "ipc_listen", out);
		if (b == 3) {
			rc = ipc_listen(&l[1], out, fuzz_flags(flags), o);
			check_rc(rc, "ipc_listen (second)", out);
			rc = ipc_open(&ch[2], out, fuzz_flags(flags2), &opt[0]);
			check_rc(rc, "ipc_open (to the listener)", out);
		}
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "  %s: channels %d%d%d listeners %d%d\n", out, !!ch[0], !!ch[1],
		        !!ch[2], !!l[0], !!l[1]);
	exercise(ch, 3);
	for (i = 0; i < 2; i++)
		if (l[i])
			exercise_listener(l[i]);
	for (i = 0; i < 3; i++)
		ipc_close(ch[i]);
	for (i = 0; i < 2; i++)
		ipc_listener_close(l[i]);
	if (fchdir(cwd_fd) < 0)
		fz_fail("fchdir back: %s", strerror(errno));
	fdset_close(&fds);

	if ((left = fz_dir_leftover()))
		fz_fail("%s left %s behind in the directory", out, left);
	if ((left = fz_shm_leftover()))
		fz_fail("%s left %s behind", out, left);
	rc = fz_fd_count();
	FZ_ASSERT(rc == before, "%s: descriptor leak: %d open before, %d after", out, before, rc);
	return 0;
}
