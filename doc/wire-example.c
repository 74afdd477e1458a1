/* Checks the worked example of doc/wire-format.md against the library:
 * sends "hi" and an empty message through an fd: channel on a pipe, reads
 * the raw bytes back, and compares them with the hex line after
 * "As one line:" in the document given as argv[1]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ipc/ipc.h>

static int
doc_bytes(const char *path, unsigned char *out, size_t cap, size_t *n)
{
	char line[512], *p;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "As one line: `", 14) != 0)
			continue;
		for (p = line + 14; *p && *p != '`'; ) {
			char *end;
			unsigned long v = strtoul(p, &end, 16);

			if (end == p || v > 0xff || *n == cap)
				break;
			out[(*n)++] = (unsigned char)v;
			p = end;
			while (*p == ' ')
				p++;
		}
		fclose(f);
		return *p == '`' ? 0 : -1;
	}
	fclose(f);
	return -1;
}

int
main(int argc, char **argv)
{
	unsigned char want[64], got[64];
	size_t nwant, i;
	ipc_channel *tx;
	char uri[32];
	ssize_t ngot;
	int p[2];

	if (argc != 2 || doc_bytes(argv[1], want, sizeof(want), &nwant) < 0) {
		fprintf(stderr, "no \"As one line:\" hex example in %s\n", argc > 1 ? argv[1] : "?");
		return 1;
	}
	if (pipe(p) < 0)
		return 1;
	snprintf(uri, sizeof(uri), "fd:%d", p[1]);
	if (ipc_open(&tx, uri, IPC_SEND, NULL) < 0 ||
	    ipc_send(tx, "hi", 2, 1000) != 2 || ipc_send(tx, "", 0, 1000) != 0)
		return 1;
	ipc_close(tx);
	ngot = read(p[0], got, sizeof(got));
	close(p[0]);
	for (i = 0; i < (size_t)(ngot > 0 ? ngot : 0); i++)
		printf("%02x%c", got[i], i + 1 < (size_t)ngot ? ' ' : '\n');
	if (ngot < 0 || (size_t)ngot != nwant || memcmp(got, want, nwant) != 0) {
		fprintf(stderr, "the library's bytes differ from the %zu in the document\n", nwant);
		return 1;
	}
	printf("matches the %zu bytes of the worked example\n", nwant);
	return 0;
}
