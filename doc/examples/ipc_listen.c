#include <errno.h>
#include <ipc/ipc.h>
#include <poll.h>
#include <stdio.h>

int
main(void)
{
	ipc_listener *l;
	ipc_channel *ch[64], *c;
	struct pollfd p[65];
	char addr[128], buf[4096];
	int n = 0;

	if (ipc_listen(&l, "tcp://127.0.0.1:0", 0, NULL) < 0)
		return 1;
	ipc_listener_addr(l, addr, sizeof(addr));
	printf("%s\n", addr);
	fflush(stdout);
	for (;;) {
		p[0] = (struct pollfd){ ipc_listener_fd(l), POLLIN, 0 };
		for (int i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){ ipc_fd(ch[i]), POLLIN, 0 };
		if (poll(p, n + 1, -1) < 0)
			continue;
		if (p[0].revents)
			while (n < 64 && ipc_accept(l, &c, 0) == 0)
				ch[n++] = c;
		for (int i = n - 1; i >= 0; i--) {
			ssize_t r;

			if (!p[i + 1].revents)
				continue;
			while ((r = ipc_recv(ch[i], buf, sizeof(buf), 0)) >= 0)
				ipc_send(ch[i], buf, (size_t)r, 1000);
			if (r != -EAGAIN) {         /* IPC_EOF or an error */
				ipc_close(ch[i]);
				ch[i] = ch[--n];
			}
		}
	}
}
