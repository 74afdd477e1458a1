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
#define IPC__DEFAULT_CAPACITY (1u << 20)
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

/* How a descriptor is driven without blocking. */
enum ipc__fdkind {
	IPC__FD_NONBLOCK = 1,  /* our own file description, O_NONBLOCK set */
	IPC__FD_SOCKET,        /* a socket: MSG_DONTWAIT / MSG_NOSIGNAL per call */
	IPC__FD_BLOCKING,      /* shared description we must not change: poll first */
};

/* One framed (or raw) byte stream: the state every stream transport shares.
 * The send half and the receive half are touched by different threads. */
struct ipc__stream {
	int      rfd, wfd;          /* -1 when that direction is unused; may be equal */
	uint8_t  rkind, wkind;      /* enum ipc__fdkind */
	uint8_t  raw;               /* IPC_RAW: no hello, no framing */
	uint8_t  wpipe;             /* wfd is a pipe/FIFO: guard SIGPIPE */
	uint32_t max_msg;

	/* send half */
	uint8_t  hello_out;         /* our hello has been queued */
	uint32_t send_limit;        /* the peer's max_msg when a handshake told us, else 0 */
	int      send_err;          /* sticky: the channel can no longer send */
	unsigned char *tail;        /* committed bytes not yet written */
	size_t   tail_off, tail_len, tail_cap;

	/* receive half */
	unsigned char *rbuf;        /* read-ahead; grows only to hold one partial message */
	size_t   rcap, rpos, rend;  /* unread bytes are rbuf[rpos..rend) */
	uint8_t  hello_in;          /* the peer's hello has been checked */
	uint8_t  reof;              /* the descriptor reported end of file */
	uint8_t  rfifo;             /* rfd is a pipe/FIFO: read() == 0 needs a second look */
	uint8_t  rwaited;           /* the last read had to wait: poll before the next */
	int      recv_err;          /* sticky: -EPROTO, or -ECONNRESET once then IPC_EOF */
	uint32_t peer_max;          /* peer's max_msg from its hello */
};

struct ipc_channel {
	const struct ipc_driver *drv;
	int         flags;
	pid_t       owner;          /* the process that opened it */
	ipc_options opt;            /* defaults filled in */
	int         wakefd;         /* eventfd, written by ipc_shutdown() */
	atomic_int  shut;
	int         close_err;      /* set by a driver's close: what ipc_close() returns */
	struct ipc__stream st;      /* used by stream drivers only */
	void       *priv;           /* drv->priv_size bytes, right after this struct */
};

struct ipc_listener {
	const struct ipc_driver *drv;
	int         flags;
	pid_t       owner;
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

/* options */
int ipc__options_fill(ipc_options *out, const ipc_options *in);

/* channel.c: allocate / free a channel shell for a driver (used by accept). */
int  ipc__channel_new(ipc_channel **out, const struct ipc_driver *drv, int flags,
                      const ipc_options *opt);
void ipc__channel_free(ipc_channel *ch);

/* wait.c */
int64_t ipc__now_ns(void);
int     ipc__deadline_ms(long long deadline_ns);  /* poll(2) timeout left: -1, 0.. */
int     ipc__expired(long long deadline_ns);       /* -EAGAIN / -ETIMEDOUT, or 0 */
int     ipc__set_cloexec_nonblock(int fd);
void    ipc__pipe_grow(int fd);

/* framing.c: the stream layer. Stream drivers fill ch->st through
 * ipc__stream_init(), then use these as their ops. */
int     ipc__stream_init(ipc_channel *ch, int rfd, int rkind, int wfd, int wkind);
ssize_t ipc__stream_send(ipc_channel *ch, const void *buf, size_t len, int timeout_ms);
ssize_t ipc__stream_recv(ipc_channel *ch, void *buf, size_t cap, int timeout_ms);
ssize_t ipc__stream_recv_size(ipc_channel *ch, int timeout_ms);
int     ipc__stream_fd(const ipc_channel *ch);
int     ipc__stream_pending(const ipc_channel *ch);
void    ipc__stream_close(ipc_channel *ch);  /* finishes a committed tail, closes fds */
/* The 12-byte hello each framed sender writes first; check returns -EPROTO. */
void    ipc__hello_fill(unsigned char out[IPC__HELLO_SIZE], uint32_t max_msg);
int     ipc__hello_check(const unsigned char in[IPC__HELLO_SIZE], uint32_t *peer_max);

/* Test-only crash points: non-zero when the environment variable IPC_CRASH_AT
 * names @p step; the caller then _exit()s inside the window under test. */
int ipc__crash_at(const char *step);

#endif
