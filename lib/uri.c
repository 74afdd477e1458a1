/* URI parsing shared by every entry point: "scheme:address". */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "ipc-private.h"

int
ipc__uri_split(const char *uri, const char **scheme, size_t *slen, const char **addr)
{
	const char *p = uri;

	if (!uri || !isalpha((unsigned char)*p))
		return -EINVAL;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p != ':' || p - uri > 32)
		return -EINVAL;
	*scheme = uri;
	*slen = (size_t)(p - uri);
	*addr = p + 1;
	return 0;
}
