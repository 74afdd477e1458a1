#include <errno.h>
#include <ipc/ipc.h>
#include <signal.h>
#include <stdio.h>

#define MAX 16

/* Print the messages that arrive on the channels named on the command line
 * (fifo:/tmp/a fd:0 ...) until they have all ended, or SIGINT or SIGTERM
 * arrives: one ipc_poll() waits for both kinds of event. */
int
main(int argc, char **argv)
{
	struct ipc_pollitem it[1 + MAX];
	int sigs[] = { SIGINT, SIGTERM };
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	size_t n = 0, i;
	int rc;

	if (argc < 2 || argc > 1 + MAX) {
		fprintf(stderr, "usage: %s URI...\n", argv[0]);
		return 2;
	}
	if ((rc = ipc_sigwatch_open(&w, sigs, 2)) < 0) {
		fprintf(stderr, "ipc_sigwatch_open: %s\n", ipc_strerror(rc));
		return 1;
	}
	it[0] = (struct ipc_pollitem){ .w = w, .events = IPC_POLLIN };
	for (i = 1; i < (size_t)argc; i++) {
		ipc_channel *ch;

		if ((rc = ipc_open(&ch, argv[i], IPC_RECV, NULL)) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], ipc_strerror(rc));
			return 1;
		}
		it[1 + n++] = (struct ipc_pollitem){ .ch = ch, .events = IPC_POLLIN };
	}
	while (n > 0) {
		if ((rc = ipc_poll(it, 1 + n, -1)) < 0) {
			fprintf(stderr, "ipc_poll: %s\n", ipc_strerror(rc));
			break;
		}
		if (it[0].revents && ipc_sigwatch_read(w, &si, 0) == 0) {
			printf("signal %d: stopping\n", si.signo);
			break;
		}
		/* From the back, so moving the last item into a closed one's
		 * place never skips an item. */
		for (i = n; i-- > 0;) {
			struct ipc_pollitem *p = &it[1 + i];
			void *msg;
			ssize_t len;

			if (!p->revents)
				continue;
			/* One message per wakeup is enough: ipc_poll() reports a
			 * message already read ahead at once. */
			len = ipc_recv_alloc(p->ch, &msg, 0);
			if (len >= 0) {
				printf("%.*s\n", (int)len, (char *)msg);
				ipc_free(msg);
			} else if (len != -EAGAIN) {    /* IPC_EOF, or an error */
				if (len != IPC_EOF)
					fprintf(stderr, "recv: %s\n", ipc_strerror((int)len));
				ipc_close(p->ch);
				*p = it[n--];
			}
		}
	}
	for (i = 1; i <= n; i++)
		ipc_close(it[i].ch);
	ipc_sigwatch_close(w);
	return rc < 0;
}
