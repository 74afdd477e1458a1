/* ipc_peer_cert: the verified certificate of a tls+tcp:// peer. Built in
 * every library; without the TLS driver no channel is a TLS one, and the
 * answer is -EOPNOTSUPP as for every other transport. */
#include <errno.h>

#include "ipc-private.h"
#if IPC_HAVE_TLS
#include "tls/driver.h"
#endif

IPC_EXPORT int
ipc_peer_cert(const ipc_channel *ch, char *subject, size_t cap, unsigned char sha256[32])
{
	if (!ch || (!subject) != (!cap))
		return -EINVAL;
#if IPC_HAVE_TLS
	if (ch->drv == &ipc__drv_tls)
		return ipc__tls_channel_peer_cert(ch, subject, cap, sha256);
#endif
	return -EOPNOTSUPP;
}
