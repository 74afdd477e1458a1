/* ipc-peer: the C side of the Python module's cross-language tests.
 *   ipc-peer serve URI             listen, print the bound URI, accept one
 *                                  peer, echo its messages until EOF
 *   ipc-peer echo URI FLAGS        open, print "ready", echo until EOF
 *   ipc-peer send URI FLAGS N      open, print "ready", send "msg-0".."msg-N-1"
 *   ipc-peer recv URI FLAGS N      open, print "ready", print N messages, one a line
 * FLAGS: letters s (IPC_SEND) r (IPC_RECV) c (IPC_CREATE). Every wait is
 * bounded (10 s), so a broken test fails instead of hanging. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 10000

static int
fail(const char *what, long rc)
{
	fprintf(stderr, "ipc-peer: %s: %s\n", what, ipc_strerror((int)rc));
	return 1;
}

static int
parse_flags(const char *s)
{
	int f = 0;

	for (; *s; s++)
		f |= *s == 's' ? IPC_SEND : *s == 'r' ? IPC_RECV : *s == 'c' ? IPC_CREATE : 0;
	return f;
}

static int
echo(ipc_channel *ch)
{
	for (;;) {
		void *buf;
		ssize_t n = ipc_recv_alloc(ch, &buf, WAIT_MS), m;

		if (n == IPC_EOF)
			return 0;
		if (n < 0)
			return fail("recv", n);
		m = ipc_send(ch, buf, (size_t)n, WAIT_MS);
		ipc_free(buf);
		if (m != n)
			return fail("send", m);
	}
}

int
main(int argc, char **argv)
{
	ipc_options opt = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	int rc, status = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: ipc-peer serve|echo|send|recv URI [FLAGS [N]]\n");
		return 2;
	}
	opt.open_timeout_ms = WAIT_MS;
	if (strcmp(argv[1], "serve") == 0) {
		ipc_listener *l;
		char addr[256];

		if ((rc = ipc_listen(&l, argv[2], 0, &opt)) < 0)
			return fail("listen", rc);
		if ((rc = ipc_listener_addr(l, addr, sizeof(addr))) < 0)
			return fail("listener_addr", rc);
		printf("%s\n", addr);
		fflush(stdout);
		if ((rc = ipc_accept(l, &ch, WAIT_MS)) < 0)
			return fail("accept", rc);
		status = echo(ch);
		ipc_close(ch);
		ipc_listener_close(l);
		return status;
	}
	if (argc < 4)
		return 2;
	if ((rc = ipc_open(&ch, argv[2], parse_flags(argv[3]), &opt)) < 0)
		return fail("open", rc);
	printf("ready\n");
	fflush(stdout);
	if (strcmp(argv[1], "echo") == 0) {
		status = echo(ch);
	} else if (strcmp(argv[1], "send") == 0 && argc > 4) {
		long i, n = atol(argv[4]);
		char msg[32];

		for (i = 0; i < n && !status; i++) {
			int len = snprintf(msg, sizeof(msg), "msg-%ld", i);

			if ((rc = (int)ipc_send(ch, msg, (size_t)len, WAIT_MS)) != len)
				status = fail("send", rc);
		}
	} else if (strcmp(argv[1], "recv") == 0 && argc > 4) {
		long i, n = atol(argv[4]);
		char msg[256];

		for (i = 0; i < n && !status; i++) {
			ssize_t m = ipc_recv(ch, msg, sizeof(msg), WAIT_MS);

			if (m < 0)
				status = fail("recv", m);
			else
				printf("%.*s\n", (int)m, msg);
		}
		fflush(stdout);
	} else {
		status = 2;
	}
	if ((rc = ipc_close(ch)) < 0 && !status)
		status = fail("close", rc);
	return status;
}
