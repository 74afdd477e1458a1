/* A record header and its payload sent as one message, without copying them
 * together, over a socket pair. */
#include <ipc/ipc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

struct header {
	uint32_t type, seq;
};

int
main(void)
{
	ipc_channel *ends[2];
	struct header h = { 7, 1 };
	const char *payload = "hello";
	struct iovec v[2] = {
		{ &h, sizeof(h) },
		{ (void *)payload, strlen(payload) },
	};
	char buf[64];
	ssize_t n;

	if (ipc_pair(ends, 0) < 0)
		return 1;
	n = ipc_sendv(ends[0], v, 2, 1000);
	if (n < 0) {
		fprintf(stderr, "ipc_sendv: %s\n", ipc_strerror((int)n));
		return 1;
	}
	n = ipc_recv(ends[1], buf, sizeof(buf), 1000);
	if (n != (ssize_t)(sizeof(h) + strlen(payload)))
		return 1;
	printf("one message of %zd bytes: %.*s\n", n, (int)(n - (ssize_t)sizeof(h)),
	       buf + sizeof(h));
	ipc_close(ends[0]);
	ipc_close(ends[1]);
	return 0;
}
