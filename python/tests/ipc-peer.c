/* ipc-peer: the C side of the Python module's cross-language tests.
 *   ipc-peer serve URI             listen, print the bound URI, accept one
 *                                  peer, echo its messages until EOF
 *   ipc-peer echo URI FLAGS        open, print "ready", echo until EOF
 *   ipc-peer send URI FLAGS N      open, print "ready", send "msg-0".."msg-N-1"
 *   ipc-peer recv URI FLAGS N      open, print "ready", print N messages, one a line
 *   ipc-peer source URI FLAGS N SIZE   the C half of tools/ipc-py-bench.py: send
 *                                  N messages of SIZE bytes once the sink said
 *                                  "go", wait for its "done",
 *                                  print the seconds that took
 *   ipc-peer sink URI FLAGS N SIZE send "go", receive N messages of up to SIZE,
 *                                  send "done"
 * (source and sink open with max_msg SIZE and an shm ring of 4 SIZE)
 * FLAGS: letters s (IPC_SEND) r (IPC_RECV) c (IPC_CREATE). Every wait is
 * bounded (10 s), so a broken test fails instead of hanging. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if (argc > 5) {
		opt.max_msg = (size_t)atol(argv[5]);
		opt.capacity = 4 * opt.max_msg;
	}
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
	} else if ((strcmp(argv[1], "source") == 0 || strcmp(argv[1], "sink") == 0) && argc > 5) {
		long i, n = atol(argv[4]);
		size_t size = opt.max_msg;
		char *buf = calloc(1, size), done[8];
		struct timespec t0, t1;
		ssize_t m;

		if (!buf)
			return 1;
		/* The clock starts when both sides are there: the sink says "go". */
		if (argv[1][1] == 'o')
			m = ipc_recv(ch, done, sizeof(done), WAIT_MS);
		else
			m = ipc_send(ch, "go", 2, WAIT_MS);
		if (m < 0)
			status = fail("go", m);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < n && !status; i++) {
			if (argv[1][1] == 'o')
				m = ipc_send(ch, buf, size, WAIT_MS);
			else
				m = ipc_recv(ch, buf, size, WAIT_MS);
			if (m < 0)
				status = fail("source/sink", m);
		}
		if (!status && argv[1][1] == 'o') {
			if ((m = ipc_recv(ch, done, sizeof(done), WAIT_MS)) < 0)
				status = fail("recv done", m);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
		} else if (!status && (m = ipc_send(ch, "done", 4, WAIT_MS)) != 4) {
			status = fail("send done", m);
		}
		free(buf);
	} else {
		status = 2;
	}
	if ((rc = ipc_close(ch)) < 0 && !status)
		status = fail("close", rc);
	return status;
}
