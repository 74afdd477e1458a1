/* The tls+tcp:// driver (lib/drivers/tls.c), for the registry and
 * ipc_peer_cert. Internal. */
#ifndef IPC_TLS_DRIVER_H
#define IPC_TLS_DRIVER_H

#include "ipc-private.h"

extern const struct ipc_driver ipc__drv_tls;

/* ipc_peer_cert() on a channel of ipc__drv_tls; -ENOTCONN before its
 * handshake or without a peer certificate. */
int ipc__tls_channel_peer_cert(const ipc_channel *ch, char *subject, size_t cap,
                               unsigned char sha256[32]);

#endif
