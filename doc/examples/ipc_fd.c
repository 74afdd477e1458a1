#include <errno.h>
#include <ipc/ipc.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

/* Drain everything that is ready: with timeout 0 until -EAGAIN, which
 * re-arms the edge. Returns 1 while the channel is open, 0 at its end. */
static int
drain(ipc_channel *ch)
{
	char buf[4096];
	void *big;
	ssize_t n;

	for (;;) {
		n = ipc_recv(ch, buf, sizeof(buf), 0);
		if (n == -EMSGSIZE && (n = ipc_recv_alloc(ch, &big, 0)) >= 0)
			ipc_free(big);          /* a large one: handle it here */
		if (n == -EAGAIN)
			return 1;               /* all taken: wait for the next edge */
		if (n < 0) {
			if (n != IPC_EOF)
				fprintf(stderr, "recv: %s\n", ipc_strerror((int)n));
			return 0;
		}
		printf("message of %zd bytes\n", n);
	}
}

int
main(void)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, got;
	ipc_channel *end[2];
	int ep, i;

	if (ipc_pipe(end, 0) < 0)
		return 1;
	if (fork() == 0) {
		ipc_close(end[0]);
		for (i = 0; i < 1000; i++)      /* many small messages: most */
			ipc_send(end[1], "tick", 4, -1);  /* arrive in one read() */
		_exit(0);
	}
	ipc_close(end[1]);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.ptr = end[0];
	epoll_ctl(ep, EPOLL_CTL_ADD, ipc_fd(end[0]), &ev);
	while (epoll_wait(ep, &got, 1, 5000) == 1)
		if (!drain(got.data.ptr))
			break;
	ipc_close(end[0]);
	close(ep);
	wait(NULL);
	return 0;
}
