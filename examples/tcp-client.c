/* The seed's TCP client on libipc: connect, send one message, read the
 * answer, close.
 *
 *   tcp-client URI [MESSAGE]     e.g. tcp://127.0.0.1:5555 "Hello from client" */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	const char *msg = argc > 2 ? argv[2] : "Hello from client";
	ipc_options opt = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	char buf[1024];
	ssize_t n;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s tcp://HOST:PORT [MESSAGE]\n", argv[0]);
		return 2;
	}
	opt.open_timeout_ms = 5000;     /* connect() and the hello, bounded */
	if ((rc = ipc_open(&ch, argv[1], IPC_SEND | IPC_RECV, &opt)) < 0) {
		fprintf(stderr, "connect %s: %s\n", argv[1], ipc_strerror(rc));
		return 1;
	}
	if ((n = ipc_send(ch, msg, strlen(msg), 5000)) < 0 ||
	    (n = ipc_recv(ch, buf, sizeof(buf) - 1, 5000)) < 0) {
		fprintf(stderr, "%s\n", ipc_strerror((int)n));
		ipc_close(ch);
		return 1;
	}
	buf[n] = 0;
	printf("server replied: %s\n", buf);
	ipc_close(ch);
	return 0;
}
