/* Accept TLS clients and serve only the one whose certificate says
 * CN=backup,O=example; print every client's fingerprint. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

static int
authorised(const ipc_channel *ch)
{
    unsigned char sha256[32];
    char subject[256];
    int i, n = ipc_peer_cert(ch, subject, sizeof(subject), sha256);

    if (n < 0) {
        fprintf(stderr, "no certificate: %s\n", ipc_strerror(n));
        return 0;
    }
    printf("%s sha256=", subject);
    for (i = 0; i < 32; i++)
        printf("%02X%s", sha256[i], i < 31 ? ":" : "\n");
    return strcmp(subject, "CN=backup,O=example") == 0;
}

int
main(void)
{
    struct ipc_tls tls = IPC_TLS_INIT;
    ipc_options opt = IPC_OPTIONS_INIT;
    ipc_listener *l;
    ipc_channel *ch;
    int rc;

    tls.cert_file = "server.pem";
    tls.key_file = "server.key";
    tls.ca_file = "ca.pem";
    tls.flags = IPC_TLS_REQUIRE_CLIENT_CERT;
    opt.tls = &tls;
    if ((rc = ipc_listen(&l, "tls+tcp://*:5556", 0, &opt)) < 0) {
        fprintf(stderr, "listen: %s\n", ipc_strerror(rc));
        return 1;
    }
    while (ipc_accept(l, &ch, -1) == 0) {
        if (authorised(ch))
            ipc_send(ch, "welcome", 7, 1000);
        ipc_close(ch);
    }
    ipc_listener_close(l);
    return 0;
}
