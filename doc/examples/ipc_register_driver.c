#include <errno.h>
#include <ipc/ipc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* "seqpacket:N": an inherited SOCK_SEQPACKET socket. The kernel keeps
 * message boundaries; each packet starts with one tag byte so that an empty
 * message (a 1-byte packet) differs from end of file (recv() == 0). */
struct sp { int fd; size_t max_msg; };

static int
sp_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	struct sp *p = ipc_channel_priv(ch);
	char *end;

	p->fd = -1;                 /* close() runs after a failed open() too */
	p->max_msg = opt->max_msg;  /* opt is never NULL: defaults filled in */
	if (flags & (IPC_CREATE | IPC_RAW | IPC_ANY_UID))
		return -EINVAL;
	errno = 0;
	p->fd = (int)strtol(addr, &end, 10);
	if (errno || end == addr || *end || p->fd < 0) {
		p->fd = -1;
		return -EINVAL;
	}
	return 0;
}

static ssize_t
sp_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms)
{
	struct sp *p = ipc_channel_priv(ch);
	long long deadline = ipc_deadline(timeout_ms);   /* bounds the whole call */
	struct iovec iov[2] = { { "m", 1 }, { (void *)buf, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;
	int rc;

	for (;;) {
		n = sendmsg(p->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return n - 1;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((rc = ipc_wait_fd(ch, p->fd, POLLOUT, deadline)) < 0)
			return rc;      /* -EAGAIN, -ETIMEDOUT, IPC_EOF */
	}
}

static ssize_t
sp_recv_size(ipc_channel *ch, int timeout_ms)
{
	struct sp *p = ipc_channel_priv(ch);
	long long deadline = ipc_deadline(timeout_ms);
	ssize_t n;
	char tag;
	int rc;

	for (;;) {
		n = recv(p->fd, &tag, 1, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
		if (n == 0)
			return IPC_EOF;
		if (n > 0)
			return tag != 'm' || (size_t)n - 1 > p->max_msg ? -EPROTO : n - 1;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((rc = ipc_wait_fd(ch, p->fd, POLLIN, deadline)) < 0)
			return rc;
	}
}

static ssize_t
sp_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms)
{
	struct sp *p = ipc_channel_priv(ch);
	ssize_t n = sp_recv_size(ch, timeout_ms);
	char tag;
	struct iovec iov[2] = { { &tag, 1 }, { buf, cap } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	if (n < 0)
		return n;
	if ((size_t)n > cap)
		return -EMSGSIZE;   /* left queued */
	n = recvmsg(p->fd, &m, MSG_DONTWAIT);
	return n < 0 ? -errno : n - 1;
}

static int
sp_fd(ipc_channel *ch)
{
	return ((struct sp *)ipc_channel_priv(ch))->fd;
}

static void
sp_close(ipc_channel *ch)
{
	struct sp *p = ipc_channel_priv(ch);

	if (p->fd >= 0)
		close(p->fd);       /* nothing shared to undo, foreign or not */
}

static const struct ipc_driver sp_driver = {
	.abi = IPC_DRIVER_ABI, .size = sizeof(struct ipc_driver),
	.scheme = "seqpacket", .priv_size = sizeof(struct sp),
	.open = sp_open, .send = sp_send, .recv = sp_recv,
	.recv_size = sp_recv_size, .fd = sp_fd, .close = sp_close,
};

int
main(void)
{
	ipc_channel *ch;
	char uri[32], buf[16];
	int sv[2], rc;
	ssize_t n;

	if ((rc = ipc_register_driver(&sp_driver)) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	if (fork() == 0) {
		snprintf(uri, sizeof(uri), "seqpacket:%d", sv[1]);
		close(sv[0]);
		if (ipc_open(&ch, uri, IPC_SEND, NULL) == 0) {
			ipc_send(ch, "one", 3, -1);
			ipc_send(ch, "", 0, -1);
			ipc_send(ch, "two", 3, -1);
			ipc_close(ch);
		}
		_exit(0);
	}
	close(sv[1]);
	snprintf(uri, sizeof(uri), "seqpacket:%d", sv[0]);
	if ((rc = ipc_open(&ch, uri, IPC_RECV, NULL)) < 0)
		return 1;
	while ((n = ipc_recv(ch, buf, sizeof(buf), 5000)) >= 0)
		printf("%zd: %.*s\n", n, (int)n, buf);
	printf("%s\n", ipc_strerror((int)n));
	ipc_close(ch);
	wait(NULL);
	return 0;
}
