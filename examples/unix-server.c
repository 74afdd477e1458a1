/* The TCP server again, on a Unix domain socket: same calls, a path instead
 * of a port, and the kernel tells us who the client is.
 *
 *   unix-server URI [COUNT]      e.g. unix:/tmp/demo.sock or unix:@demo
 *
 * The socket file gets mode 0600, and only clients of our own uid are let
 * in. The first line on stdout is the address. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	long count = argc > 2 ? atol(argv[2]) : -1;
	struct ipc_peer peer;
	ipc_listener *l;
	ipc_channel *ch;
	char addr[128], buf[1024];
	ssize_t n;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s unix:/PATH|unix:@NAME [COUNT]\n", argv[0]);
		return 2;
	}
	if ((rc = ipc_listen(&l, argv[1], 0, NULL)) < 0) {
		fprintf(stderr, "listen %s: %s\n", argv[1], ipc_strerror(rc));
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
		ipc_peer_cred(ch, &peer);       /* SO_PEERCRED */
		n = ipc_recv(ch, buf, sizeof(buf) - 1, 5000);
		if (n >= 0) {
			buf[n] = 0;
			printf("client %ld (pid %ld, uid %ld): %s\n", served + 1,
			       (long)peer.pid, (long)peer.uid, buf);
			fflush(stdout);
			ipc_send(ch, "Hello from server", 17, 5000);
		}
		ipc_close(ch);
	}
	ipc_listener_close(l);          /* removes the socket file */
	return 0;
}
