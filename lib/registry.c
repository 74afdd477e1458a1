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
	&ipc__drv_pipe,
	&ipc__drv_fd,
	&ipc__drv_fifo,
	&ipc__drv_tcp,
	&ipc__drv_unix,
	&ipc__drv_shm,
#if IPC_HAVE_TLS
	&ipc__drv_tls,
#endif
};

static const struct ipc_driver *user[IPC__MAX_DRIVERS];
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
		if (strlen(user[i]->scheme) == len &&
		    strncmp(user[i]->scheme, scheme, len) == 0)
			return user[i];
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

IPC_EXPORT int
ipc_register_driver(const struct ipc_driver *drv)
{
	int rc = 0;

	if (!drv || drv->abi != IPC_DRIVER_ABI || !scheme_valid(drv->scheme) ||
	    !drv->open || !drv->send || !drv->recv || !drv->close)
		return -EINVAL;
	if (drv->listen && (!drv->accept || !drv->listener_close))
		return -EINVAL;
	pthread_mutex_lock(&lock);
	if (find_locked(drv->scheme, strlen(drv->scheme)))
		rc = -EEXIST;
	else if (nuser == IPC__MAX_DRIVERS)
		rc = -ENOSPC;
	else
		user[nuser++] = drv;
	pthread_mutex_unlock(&lock);
	return rc;
}
