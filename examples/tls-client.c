/* The TCP client again, over TLS: the server's certificate must come from
 * our CA and name the host we asked for; ours goes to the server.
 *
 *   tls-client URI [MESSAGE]     e.g. tls+tcp://localhost:5556 "Hello"
 *
 * Reads client.pem, client.key and ca.pem from the current directory. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	const char *msg = argc > 2 ? argv[2] : "Hello from client";
	struct ipc_tls tls = IPC_TLS_INIT;
	ipc_options opt = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	char buf[1024], who[256];
	ssize_t n;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s tls+tcp://HOST:PORT [MESSAGE]\n", argv[0]);
		return 2;
	}
	tls.cert_file = "client.pem";
	tls.key_file = "client.key";
	tls.ca_file = "ca.pem";         /* NULL would trust the system's CAs */
	opt.tls = &tls;
	opt.open_timeout_ms = 5000;     /* connect, TLS handshake and hello, bounded */
	if ((rc = ipc_open(&ch, argv[1], IPC_SEND | IPC_RECV, &opt)) < 0) {
		fprintf(stderr, "connect %s: %s\n", argv[1], ipc_strerror(rc));
		return 1;
	}
	if (ipc_peer_cert(ch, who, sizeof(who), NULL) >= 0)
		fprintf(stderr, "server is %s\n", who);
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
