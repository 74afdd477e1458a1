/* The seed's TCP server on libipc: listen, accept clients one after the
 * other, read one message from each, answer it, close.
 *
 *   tcp-server [URI [COUNT]]     default tcp://127.0.0.1:0 (a free port)
 *
 * The first line on stdout is the bound address, for the client. COUNT
 * clients are served (default: forever). */
#include <ipc/ipc.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	const char *uri = argc > 1 ? argv[1] : "tcp://127.0.0.1:0";
	long count = argc > 2 ? atol(argv[2]) : -1;
	ipc_listener *l;
	ipc_channel *ch;
	char addr[128], buf[1024];
	ssize_t n;
	int rc;

	/* socket() + bind() + listen(), with SO_REUSEADDR and TCP_NODELAY */
	if ((rc = ipc_listen(&l, uri, 0, NULL)) < 0) {
		fprintf(stderr, "listen %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	ipc_listener_addr(l, addr, sizeof(addr));
	printf("%s\n", addr);
	fflush(stdout);

	for (long served = 0; count < 0 || served < count; served++) {
		if ((rc = ipc_accept(l, &ch, -1)) < 0) {
			fprintf(stderr, "accept: %s\n", ipc_strerror(rc));
			break;
		}
		n = ipc_recv(ch, buf, sizeof(buf) - 1, 5000);   /* one whole message */
		if (n >= 0) {
			buf[n] = 0;
			printf("client %ld: %s\n", served + 1, buf);
			fflush(stdout);
			ipc_send(ch, "Hello from server", 17, 5000);
		} else {
			fprintf(stderr, "recv: %s\n", ipc_strerror((int)n));
		}
		ipc_close(ch);
	}
	ipc_listener_close(l);
	return 0;
}
