/* The TCP server again, over TLS, for clients with a certificate from our
 * CA only (mutual TLS); the client's name comes from its certificate.
 *
 *   tls-server [URI [COUNT]]     default tls+tcp://127.0.0.1:0 (a free port)
 *
 * Reads server.pem, server.key and ca.pem from the current directory (see
 * ipc-tls(7) for the openssl commands that make them). The first line on
 * stdout is the bound address; COUNT clients are served (default: forever). */
#include <ipc/ipc.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	const char *uri = argc > 1 ? argv[1] : "tls+tcp://127.0.0.1:0";
	long count = argc > 2 ? atol(argv[2]) : -1;
	struct ipc_tls tls = IPC_TLS_INIT;
	ipc_options opt = IPC_OPTIONS_INIT;
	unsigned char sha256[32];
	ipc_listener *l;
	ipc_channel *ch;
	char addr[128], who[256], buf[1024];
	ssize_t n;
	int rc;

	tls.cert_file = "server.pem";   /* our chain, sent to every client */
	tls.key_file = "server.key";    /* mode 0600, or ipc_listen says -EACCES */
	tls.ca_file = "ca.pem";         /* who may sign a client's certificate */
	tls.flags = IPC_TLS_REQUIRE_CLIENT_CERT;
	opt.tls = &tls;
	if ((rc = ipc_listen(&l, uri, 0, &opt)) < 0) {
		fprintf(stderr, "listen %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	ipc_listener_addr(l, addr, sizeof(addr));
	printf("%s\n", addr);
	fflush(stdout);

	/* A client with a bad certificate, or none, or that does not speak TLS,
	 * never comes out of ipc_accept: it is refused in the background. */
	for (long served = 0; count < 0 || served < count; served++) {
		if ((rc = ipc_accept(l, &ch, -1)) < 0) {
			fprintf(stderr, "accept: %s\n", ipc_strerror(rc));
			break;
		}
		if (ipc_peer_cert(ch, who, sizeof(who), sha256) < 0)
			snprintf(who, sizeof(who), "?");
		n = ipc_recv(ch, buf, sizeof(buf) - 1, 5000);   /* one whole message */
		if (n >= 0) {
			buf[n] = 0;
			printf("client %ld (%s, sha256 %02x%02x..): %s\n", served + 1, who,
			       sha256[0], sha256[1], buf);
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
