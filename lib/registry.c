/* The driver registry: built-in tables first, then drivers the program adds. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "ipc-private.h"
#if IPC_HAVE_TLS
#include "tls/driver.h"
#endif

#define IPC__MAX_DRIVERS 32

static const struct ipc_driver *builtin[] = {
	&ipc__drv_fd,
	&ipc__drv_fifo,
	&ipc__drv_tcp,
	&ipc__drv_unix,
	&ipc__drv_shm,
#if IPC_HAVE_TLS
	&ipc__drv_tls,
#endif
};

/* The 0.1 table (IPC_DRIVER_ABI 1), still accepted: one priv_size for
 * channels and listeners, no size, no poll/flush/listener_shutdown. */
struct ipc__driver_v1 {
	unsigned    abi;
	const char *scheme;
	size_t      priv_size;
	int     (*open)(ipc_channel *, const char *, int, const ipc_options *);
	ssize_t (*send)(ipc_channel *, const void *, size_t, int);
	ssize_t (*recv)(ipc_channel *, void *, size_t, int);
	ssize_t (*recv_size)(ipc_channel *, int);
	int     (*fd)(const ipc_channel *);
	int     (*pending)(const ipc_channel *);
	void    (*shutdown)(ipc_channel *);
	void    (*close)(ipc_channel *);
	int     (*listen)(ipc_listener *, const char *, int, const ipc_options *);
	int     (*accept)(ipc_listener *, ipc_channel *, int);
	int     (*listener_addr)(const ipc_listener *, char *, size_t);
	int     (*listener_fd)(const ipc_listener *);
	void    (*listener_close)(ipc_listener *);
	int     (*peer_cred)(const ipc_channel *, struct ipc_peer *);
};

/* The smallest abi-2 table: 0.2's. Later releases only append. */
#define IPC__DRIVER_SIZE_0_2 sizeof(struct ipc_driver)

/* Registered tables, copied into this release's layout. */
static struct ipc_driver user[IPC__MAX_DRIVERS];
static size_t nuser;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int
scheme_valid(const char *s)
{
	size_t n = 0;

	if (!s || !isalpha((unsigned char)s[0]))
		return 0;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("+-.", s[n]))
			return 0;
	return n <= 32;
}

static const struct ipc_driver *
find_locked(const char *scheme, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strlen(builtin[i]->scheme) == len &&
		    strncmp(builtin[i]->scheme, scheme, len) == 0)
			return builtin[i];
	for (i = 0; i < nuser; i++)
		if (strlen(user[i].scheme) == len &&
		    strncmp(user[i].scheme, scheme, len) == 0)
			return &user[i];
	return NULL;
}

const struct ipc_driver *
ipc__driver_find(const char *scheme, size_t len)
{
	const struct ipc_driver *d;

	pthread_mutex_lock(&lock);
	d = find_locked(scheme, len);
	pthread_mutex_unlock(&lock);
	return d;
}

/* Copy @p in, of whatever released layout, into @p out (this release's). */
static int
driver_import(const struct ipc_driver *in, struct ipc_driver *out)
{
	memset(out, 0, sizeof(*out));
	if (in->abi == 1) {
		const struct ipc__driver_v1 *v1 = (const struct ipc__driver_v1 *)in;

		out->scheme = v1->scheme;
		out->priv_size = v1->priv_size;
		out->listener_priv_size = v1->priv_size;
		out->open = v1->open;
		out->send = v1->send;
		out->recv = v1->recv;
		out->recv_size = v1->recv_size;
		/* 0.1 declared fd() const; it is called the same way. */
		out->fd = (int (*)(ipc_channel *))(void (*)(void))v1->fd;
		out->pending = v1->pending;
		out->shutdown = v1->shutdown;
		out->close = v1->close;
		out->listen = v1->listen;
		out->accept = v1->accept;
		out->listener_addr = v1->listener_addr;
		out->listener_fd = (int (*)(ipc_listener *))(void (*)(void))v1->listener_fd;
		out->listener_close = v1->listener_close;
		out->peer_cred = v1->peer_cred;
	} else if (in->abi == IPC_DRIVER_ABI) {
		const unsigned char *p = (const unsigned char *)in;
		size_t i;

		if (in->size < IPC__DRIVER_SIZE_0_2)
			return -EINVAL;
		/* A newer table: what we do not know must be unused. */
		for (i = sizeof(*out); i < in->size; i++)
			if (p[i])
				return -E2BIG;
		memcpy(out, in, sizeof(*out));
	} else {
		return -EINVAL;
	}
	out->abi = IPC_DRIVER_ABI;
	out->size = sizeof(*out);
	return 0;
}

IPC_EXPORT int
ipc_register_driver(const struct ipc_driver *drv)
{
	struct ipc_driver d;
	int rc = 0;

	if (!drv || (rc = driver_import(drv, &d)) < 0)
		return rc < 0 ? rc : -EINVAL;
	if (!scheme_valid(d.scheme) || !d.open || !d.send || !d.recv || !d.close)
		return -EINVAL;
	if (d.listen && (!d.accept || !d.listener_close))
		return -EINVAL;
	/* a loan that could be taken but not given back */
	if (!d.send_reserve != !d.send_commit || !d.send_reserve != !d.send_abort ||
	    !d.recv_peek != !d.recv_release)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	if (find_locked(d.scheme, strlen(d.scheme)))
		rc = -EEXIST;
	else if (nuser == IPC__MAX_DRIVERS)
		rc = -ENOSPC;
	else
		user[nuser++] = d;
	pthread_mutex_unlock(&lock);
	return rc;
}
