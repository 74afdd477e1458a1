/* Internal types and helpers shared by the core and the built-in drivers.
 * Nothing here is installed; names shared between files start with ipc__. */
#ifndef IPC_PRIVATE_H
#define IPC_PRIVATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ipc/channel.h>
#include <ipc/driver.h>
#include <ipc/signal.h>

#define IPC_EXPORT __attribute__((visibility("default")))

#define IPC__DEFAULT_MAX_MSG  (16u << 20)
#define IPC__DEFAULT_CAPACITY (2u << 20)   /* shm: messages up to 1 MiB by default */
#define IPC__DEFAULT_MODE     0600u
#define IPC__RBUF_SIZE        (64u << 10)   /* read-ahead per framed stream */
#define IPC__CLOSE_LINGER_MS  1000          /* how long close() finishes a committed tail */
#define IPC__PIPE_SIZE        (256 << 10)   /* kernel buffer asked for pipes and FIFOs */
#define IPC__OPTIONS_SIZE_0_1 offsetof(ipc_options, tls)   /* sizeof(ipc_options) in 0.1 */

/* --- wire format (doc/wire-format.md) --- */
#define IPC__HELLO_SIZE    12
#define IPC__FRAME_HDR     4
#define IPC__WIRE_VERSION  1
extern const unsigned char ipc__hello_magic[4];   /* 0x89 'I' 'P' 'C' */

struct ipc_channel {
	const struct ipc_driver *drv;
	int         flags;
	pid_t       owner;          /* the process that opened it */
	ipc_options opt;            /* defaults filled in */
	int         wakefd;         /* eventfd, written by ipc_shutdown() */
	atomic_int  shut;
	int         close_err;      /* set by a driver's close: what ipc_close() returns */
	void       *ralloc;         /* ipc_recv_alloc's buffer for a message on its way */
	size_t      ralloc_len;
	int         recv_parked;    /* an error ipc_recv_batch met after its first message */
	void       *priv;           /* drv->priv_size bytes, right after this struct */
};

struct ipc_listener {
	const struct ipc_driver *drv;
	int         flags;
	pid_t       owner;
	atomic_int  shut;           /* ipc_listener_shutdown(): accept answers IPC_EOF */
	ipc_options opt;
	void       *priv;
};

/* registry.c */
const struct ipc_driver *ipc__driver_find(const char *scheme, size_t len);
extern const struct ipc_driver ipc__drv_pipe, ipc__drv_fd, ipc__drv_fifo;
extern const struct ipc_driver ipc__drv_tcp, ipc__drv_unix;
extern const struct ipc_driver ipc__drv_shm;

/* uri.c: split "scheme:addr"; scheme is [A-Za-z][A-Za-z0-9+.-]*. */
int ipc__uri_split(const char *uri, const char **scheme, size_t *slen, const char **addr);

/* options: every default filled in but max_msg, which stays 0 when the
 * caller left it so; ipc__max_msg() reads it with the streams' default. */
int ipc__options_fill(ipc_options *out, const ipc_options *in);
static inline size_t
ipc__max_msg(const ipc_options *o)
{
	return o->max_msg ? o->max_msg : IPC__DEFAULT_MAX_MSG;
}

/* channel.c: allocate / free a channel shell for a driver (used by accept). */
int  ipc__channel_new(ipc_channel **out, const struct ipc_driver *drv, int flags,
                      const ipc_options *opt);
void ipc__channel_free(ipc_channel *ch);

/* wait.c */
int64_t ipc__now_ns(void);
int     ipc__deadline_ms(long long deadline_ns);  /* poll(2) timeout left: -1, 0.. */
int     ipc__expired(long long deadline_ns);       /* -EAGAIN / -ETIMEDOUT, or 0 */
void    ipc__pipe_grow(int fd);

/* framing.c */
extern const unsigned char ipc__hello_magic[4];   /* 0x89 'I' 'P' 'C' */

/* Test hooks, only in builds configured with -Dtest_hooks=true (meson defines
 * IPC_TEST_HOOKS). Elsewhere they are constants, so the branches they guard
 * compile away and a release library reads no test environment variables.
 * ipc__crash_at: non-zero when IPC_CRASH_AT names @p step (wait.c); the caller
 * then _exit()s inside the window under test.
 * ipc__test_getenv: getenv() for a test-only variable, NULL without hooks. */
#ifdef IPC_TEST_HOOKS
#include <stdlib.h>
int ipc__crash_at(const char *step);
#define ipc__test_getenv(name) getenv(name)
#else
#define ipc__crash_at(step) 0
#define ipc__test_getenv(name) ((char *)0)
#endif

#endif
