/* An echo daemon on libipc: one ipc_poll() loop over its listeners, its
 * clients and a signal watcher, so signals are events like any other and no
 * handler is needed.
 *
 * Usage: echo-daemon CONFIG URI...
 *   URI     an address to listen on (tcp://127.0.0.1:0, unix:/run/echo.sock),
 *           or one channel to serve as a connected client: descriptors handed
 *           over by a supervisor (fd:R,W), or a shared-memory object its
 *           client created (shm:/name).
 *   CONFIG  "key=value" lines, '#' starts a comment:
 *             prefix=TEXT       put TEXT in front of every answer (default none)
 *             max_clients=N     accept at most N clients at once (default 256)
 *
 * SIGHUP   re-reads CONFIG and prints "reloaded" (a bad file is reported and
 *          the old configuration kept).
 * SIGTERM  (or SIGINT) stops accepting and stops reading. Every message the
 *          daemon has received has been answered by then: each one is answered
 *          before the next poll. Messages still unread in the kernel were never
 *          accepted; their clients see the connection end. Then it closes
 *          everything, prints "accepted N answered M gone K" and exits 0 when
 *          every accepted message was answered or its client had gone away.
 *
 * Build: cc echo-daemon.c $(pkg-config --cflags --libs ipc) */
#include <errno.h>
#include <ipc/ipc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_TIMEOUT_MS 5000   /* a client that stops reading is dropped */
#define BURST 64                /* messages per client per wakeup: fairness */

struct config {
	char prefix[256];
	size_t prefix_len;
	long max_clients;
};

struct daemon {
	struct config cfg;
	const char *cfg_path;
	ipc_sigwatch *watch;
	ipc_listener **ls;
	size_t nls;
	ipc_channel **cl;
	size_t ncl, capcl;
	unsigned long long accepted, answered, gone;
	int stopping;
};

/* Parse @p path into @p out. Returns 0, or -1 with a reason in @p why. */
static int
config_load(const char *path, struct config *out, char *why, size_t whylen)
{
	struct config c = { .max_clients = 256 };
	char line[512], *eq, *end;
	int lineno = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");

		lineno++;
		line[len] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (!(eq = strchr(line, '='))) {
			snprintf(why, whylen, "%s:%d: expected key=value", path, lineno);
			goto bad;
		}
		*eq++ = 0;
		if (strcmp(line, "prefix") == 0) {
			c.prefix_len = strlen(eq);
			if (c.prefix_len >= sizeof(c.prefix)) {
				snprintf(why, whylen, "%s:%d: prefix too long", path, lineno);
				goto bad;
			}
			memcpy(c.prefix, eq, c.prefix_len + 1);
		} else if (strcmp(line, "max_clients") == 0) {
			c.max_clients = strtol(eq, &end, 10);
			if (!*eq || *end || c.max_clients < 1 || c.max_clients > 100000) {
				snprintf(why, whylen, "%s:%d: bad max_clients", path, lineno);
				goto bad;
			}
		} else {
			snprintf(why, whylen, "%s:%d: unknown key '%s'", path, lineno, line);
			goto bad;
		}
	}
	fclose(f);
	*out = c;
	return 0;
bad:
	fclose(f);
	return -1;
}

static int
add_client(struct daemon *d, ipc_channel *ch)
{
	if (d->ncl == d->capcl) {
		size_t cap = d->capcl ? d->capcl * 2 : 16;
		ipc_channel **p = realloc(d->cl, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->cl = p;
		d->capcl = cap;
	}
	d->cl[d->ncl++] = ch;
	return 0;
}

static void
drop_client(struct daemon *d, size_t i)
{
	ipc_close(d->cl[i]);
	d->cl[i] = d->cl[--d->ncl];
}

/* Answer what @p ch has ready, at most BURST messages (ipc_poll reports the
 * rest at once: it knows about the read-ahead buffer). Returns 0 to keep the
 * client, -1 to drop it. */
static int
serve(struct daemon *d, ipc_channel *ch)
{
	int i;

	for (i = 0; i < BURST; i++) {
		void *msg;
		char *reply;
		ssize_t n = ipc_recv_alloc(ch, &msg, 0), rc;

		if (n == -EAGAIN)
			return 0;
		if (n < 0) {
			if (n != IPC_EOF)
				fprintf(stderr, "echo-daemon: recv: %s\n", ipc_strerror((int)n));
			return -1;
		}
		d->accepted++;
		reply = malloc(d->cfg.prefix_len + (size_t)n + 1);
		if (!reply) {
			ipc_free(msg);
			fprintf(stderr, "echo-daemon: out of memory\n");
			return -1;
		}
		memcpy(reply, d->cfg.prefix, d->cfg.prefix_len);
		memcpy(reply + d->cfg.prefix_len, msg, (size_t)n);
		ipc_free(msg);
		rc = ipc_send(ch, reply, d->cfg.prefix_len + (size_t)n, REPLY_TIMEOUT_MS);
		free(reply);
		if (rc == (ssize_t)(d->cfg.prefix_len + (size_t)n)) {
			d->answered++;
			continue;
		}
		if (rc == -EPIPE || rc == -ECONNRESET || rc == IPC_EOF)
			d->gone++;      /* nobody left to answer */
		else
			fprintf(stderr, "echo-daemon: send: %s\n", ipc_strerror((int)rc));
		return -1;
	}
	return 0;
}

static void
accept_all(struct daemon *d, ipc_listener *l)
{
	ipc_channel *ch;
	int rc;

	while ((long)d->ncl < d->cfg.max_clients) {
		rc = ipc_accept(l, &ch, 0);
		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			/* A peer that failed its handshake is not our problem. */
			fprintf(stderr, "echo-daemon: accept: %s\n", ipc_strerror(rc));
			return;
		}
		if (add_client(d, ch) < 0) {
			ipc_close(ch);
			return;
		}
	}
}

static void
on_signals(struct daemon *d)
{
	struct ipc_siginfo si;
	struct config c;
	char why[600];

	while (ipc_sigwatch_read(d->watch, &si, 0) == 0) {
		if (si.signo == SIGHUP) {
			if (config_load(d->cfg_path, &c, why, sizeof(why)) == 0) {
				d->cfg = c;
				printf("reloaded\n");
			} else {
				printf("reload failed: %s\n", why);
			}
			fflush(stdout);
		} else if (!d->stopping) {
			d->stopping = 1;
			printf("stopping\n");
			fflush(stdout);
		}
	}
}

static int
run(struct daemon *d)
{
	struct ipc_pollitem *it = NULL;
	size_t cap = 0, n, i, nls;
	int rc;

	while (!d->stopping) {
		/* Listeners take part only while there is room for a client. */
		nls = (long)d->ncl < d->cfg.max_clients ? d->nls : 0;
		n = 1 + nls + d->ncl;
		if (n > cap) {
			struct ipc_pollitem *p = realloc(it, n * sizeof(*p));

			if (!p) {
				free(it);
				return -ENOMEM;
			}
			it = p;
			cap = n;
		}
		it[0] = (struct ipc_pollitem){ .w = d->watch, .events = IPC_POLLIN };
		for (i = 0; i < nls; i++)
			it[1 + i] = (struct ipc_pollitem){ .l = d->ls[i], .events = IPC_POLLIN };
		for (i = 0; i < d->ncl; i++)
			it[1 + nls + i] = (struct ipc_pollitem){ .ch = d->cl[i],
			                                         .events = IPC_POLLIN };
		if ((rc = ipc_poll(it, n, -1)) < 0) {
			free(it);
			return rc;
		}
		/* Signals first: after SIGTERM nothing more is read. */
		if (it[0].revents)
			on_signals(d);
		if (d->stopping)
			break;
		/* Clients from the back, so dropping one (moving the last into its
		 * slot) never skips an item. */
		for (i = d->ncl; i-- > 0;)
			if (it[1 + nls + i].revents && serve(d, d->cl[i]) < 0)
				drop_client(d, i);
		for (i = 0; i < nls; i++)
			if (it[1 + i].revents)
				accept_all(d, d->ls[i]);
	}
	free(it);
	return 0;
}

int
main(int argc, char **argv)
{
	int sigs[] = { SIGHUP, SIGTERM, SIGINT };
	struct daemon d = { 0 };
	char why[600], addr[512];
	ipc_channel *ch;
	int i, rc;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CONFIG URI...\n", argv[0]);
		return 2;
	}
	d.cfg_path = argv[1];
	if (config_load(d.cfg_path, &d.cfg, why, sizeof(why)) < 0) {
		fprintf(stderr, "echo-daemon: %s\n", why);
		return 1;
	}
	/* Before any thread exists (none here): the watcher blocks these
	 * signals and reads them; ipc_poll wakes for them like for a message. */
	if ((rc = ipc_sigwatch_open(&d.watch, sigs, sizeof(sigs) / sizeof(sigs[0]))) < 0) {
		fprintf(stderr, "echo-daemon: ipc_sigwatch_open: %s\n", ipc_strerror(rc));
		return 1;
	}
	if (!(d.ls = calloc((size_t)argc, sizeof(*d.ls))))
		return 1;
	for (i = 2; i < argc; i++) {
		ipc_listener *l;

		rc = ipc_listen(&l, argv[i], 0, NULL);
		if (rc == 0) {
			d.ls[d.nls++] = l;
			if (ipc_listener_addr(l, addr, sizeof(addr)) > 0)
				printf("listening %s\n", addr);
			else
				printf("listening %s\n", argv[i]);
			continue;
		}
		/* No listener for this transport: a channel we were handed. */
		if (rc == -EOPNOTSUPP)
			rc = ipc_open(&ch, argv[i], IPC_SEND | IPC_RECV, NULL);
		if (rc == 0)
			rc = add_client(&d, ch);
		if (rc < 0) {
			fprintf(stderr, "echo-daemon: %s: %s\n", argv[i], ipc_strerror(rc));
			return 1;
		}
		printf("serving %s\n", argv[i]);
	}
	printf("ready\n");
	fflush(stdout);

	rc = run(&d);

	/* Stop accepting first, then end every conversation. */
	while (d.nls > 0)
		ipc_listener_close(d.ls[--d.nls]);
	while (d.ncl > 0)
		drop_client(&d, d.ncl - 1);
	free(d.ls);
	free(d.cl);
	ipc_sigwatch_close(d.watch);
	if (rc < 0)
		fprintf(stderr, "echo-daemon: ipc_poll: %s\n", ipc_strerror(rc));
	printf("accepted %llu answered %llu gone %llu\n", d.accepted, d.answered, d.gone);
	return rc < 0 || d.accepted != d.answered + d.gone;
}
