/* tcp: "tcp://host:port". Host names go through getaddrinfo; IPv6 literals
 * are bracketed; "*" (listeners only) is every interface, dual-stack with an
 * IPv4 fallback. The socket layer (lib/sockets.c) does the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sockets.h"

#define TCP_HOST_MAX 256

/* Split "//host:port" into @p host and @p port. An empty host is an error:
 * binding every interface takes an explicit "*". */
static int
tcp_parse(const char *addr, char host[TCP_HOST_MAX], unsigned *port, int *v6lit)
{
	const char *h, *he, *p;
	char *end;
	unsigned long v;

	if (strncmp(addr, "//", 2) != 0)
		return -EINVAL;
	h = addr + 2;
	*v6lit = 0;
	if (*h == '[') {
		h++;
		if (!(he = strchr(h, ']')) || he[1] != ':')
			return -EINVAL;
		p = he + 2;
		*v6lit = 1;
	} else {
		if (!(he = strrchr(h, ':')))
			return -EINVAL;
		p = he + 1;
		if (memchr(h, ':', (size_t)(he - h)))
			return -EINVAL;     /* an IPv6 literal needs brackets */
	}
	if (he == h || (size_t)(he - h) >= TCP_HOST_MAX)
		return -EINVAL;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = 0;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (*end || v > 65535 || errno)
		return -EINVAL;
	*port = (unsigned)v;
	return 0;
}

static int
tcp_gai_error(int e)
{
	switch (e) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -EADDRNOTAVAIL;
	case EAI_AGAIN:
	case EAI_FAIL:
		return -EHOSTUNREACH;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EINVAL;
	}
}

static int
tcp_resolve(const char *host, unsigned port, int v6lit, int passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP };
	char serv[8];
	int e;

	hints.ai_family = v6lit ? AF_INET6 : AF_UNSPEC;
	hints.ai_flags = AI_NUMERICSERV | (v6lit ? AI_NUMERICHOST : 0) |
	                 (passive ? AI_PASSIVE : 0);
	snprintf(serv, sizeof(serv), "%u", port);
	e = getaddrinfo(host, serv, &hints, res);
	return e ? tcp_gai_error(e) : 0;
}

static void
tcp_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
ipc__tcp_connect(ipc_channel *ch, const char *addr, long long deadline, char *host,
                 size_t hostcap)
{
	char h[TCP_HOST_MAX];
	struct addrinfo *res, *ai;
	unsigned port;
	int rc, v6lit, fd = -EADDRNOTAVAIL;

	if ((rc = tcp_parse(addr, h, &port, &v6lit)) < 0)
		return rc;
	if (strcmp(h, "*") == 0 || port == 0)
		return -EINVAL;     /* one can only listen on those */
	if (strlen(h) >= hostcap)
		return -EINVAL;
	strcpy(host, h);
	if ((rc = tcp_resolve(h, port, v6lit, 0, &res)) < 0)
		return rc;
	/* Each address in the resolver's order; the last error wins. */
	for (ai = res; ai; ai = ai->ai_next) {
		fd = ipc__sock_connect(ch, ai->ai_addr, ai->ai_addrlen, deadline);
		if (fd >= 0 || fd == -ETIMEDOUT || fd == IPC_EOF)
			break;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		tcp_nodelay(fd);
	return fd;
}

static int
tcp_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	long long deadline = ipc_deadline(opt->open_timeout_ms);
	char host[TCP_HOST_MAX];
	int fd;

	(void)flags;
	if ((fd = ipc__tcp_connect(ch, addr, deadline, host, sizeof(host))) < 0)
		return fd;
	return ipc__sock_start(ch, fd, deadline);
}

/* "tcp://127.0.0.1:43121" or "tcp://[::1]:43121" from the bound address. */
static int
tcp_format(int fd, const char *scheme, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];
	unsigned port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(out, cap, "%s://[%s]:%u", scheme, ip, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(out, cap, "%s://%s:%u", scheme, ip, port);
	}
	return 0;
}

/* Bind and listen on one address. @p v6only: -1 leaves the kernel default. */
static int
tcp_bind(const struct sockaddr *sa, socklen_t len, int v6only)
{
	int fd, one = 1, rc;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted server binds its port again at once (TIME_WAIT). */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6 && v6only >= 0 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
		goto fail;
	if (bind(fd, sa, len) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	tcp_nodelay(fd);        /* inherited by accepted sockets */
	return fd;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

/* "*": one IPv6 socket that takes IPv4 too; IPv4 alone where IPv6 is off. */
static int
tcp_bind_any(unsigned port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
	                           .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd = tcp_bind((struct sockaddr *)&s6, sizeof(s6), 0);

	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL || fd == -EPROTONOSUPPORT)
		fd = tcp_bind((struct sockaddr *)&s4, sizeof(s4), -1);
	return fd;
}

int
ipc__tcp_listen(ipc_listener *l, const char *addr, int flags, const char *scheme)
{
	char host[TCP_HOST_MAX];
	struct addrinfo *res, *ai;
	unsigned port;
	int rc, v6lit, fd = -EADDRNOTAVAIL;
	struct ipc__sock_listener *sl;

	if ((rc = tcp_parse(addr, host, &port, &v6lit)) < 0)
		return rc;
	if (strcmp(host, "*") == 0) {
		fd = tcp_bind_any(port);
	} else {
		if ((rc = tcp_resolve(host, port, v6lit, 1, &res)) < 0)
			return rc;
		/* An IPv6 address asked for by name or literal binds IPv6 only. */
		for (ai = res; ai; ai = ai->ai_next)
			if ((fd = tcp_bind(ai->ai_addr, ai->ai_addrlen, 1)) >= 0)
				break;
		freeaddrinfo(res);
	}
	if (fd < 0)
		return fd;
	if ((rc = ipc__sock_listener_new(l, fd, flags, NULL)) < 0)
		return rc;
	sl = ipc__sock_listener_get(l);
	return tcp_format(sl->fd, scheme, sl->addr, sizeof(sl->addr));
}

static int
tcp_listen(ipc_listener *l, const char *addr, int flags, const ipc_options *opt)
{
	(void)opt;          /* IPC_ANY_UID means nothing here: tcp has no uids */
	return ipc__tcp_listen(l, addr, flags, "tcp");
}

static void
tcp_listener_close(ipc_listener *l)
{
	ipc__sock_listener_free(l);
}

const struct ipc_driver ipc__drv_tcp = {
	.abi = IPC_DRIVER_ABI,
	.size = sizeof(struct ipc_driver),
	.scheme = "tcp",
	.priv_size = sizeof(struct ipc__framing *),
	.listener_priv_size = sizeof(struct ipc__sock_listener),
	.open = tcp_open,
	.send = ipc__stream_send,
	.sendv      = ipc__stream_sendv,
	.send_batch = ipc__stream_send_batch,
	.recv_batch = ipc__stream_recv_batch,
	.recv = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd = ipc__stream_fd,
	.flush = ipc__stream_flush,
	.poll = ipc__stream_poll,
	.close = ipc__stream_close,
	.listen = tcp_listen,
	.accept = ipc__sock_accept,
	.listener_addr = ipc__sock_listener_addr,
	.listener_fd = ipc__sock_listener_fd,
	.listener_shutdown = ipc__sock_listener_shutdown,
	.listener_close = tcp_listener_close,
};
