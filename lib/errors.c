/* ipc_strerror: a name for every return value, without touching errno. */
#include <errno.h>
#include <string.h>

#include "ipc-private.h"

IPC_EXPORT const char *
ipc_strerror(int rc)
{
	if (rc >= 0)
		return "Success";
	if (rc == IPC_EOF)
		return "End of stream";
	switch (-rc) {
	case EAGAIN:          return "Would block (timeout 0)";
	case ETIMEDOUT:       return "Timed out";
	case EPIPE:           return "No receiver left (broken pipe)";
	case ECONNRESET:      return "Peer died in the middle of a message";
	case EPROTO:          return "Peer does not speak libipc, or sent a malformed frame";
	case EMSGSIZE:        return "Message too large for the buffer or for max_msg";
	case EINVAL:          return "Invalid argument";
	case E2BIG:           return "Options carry fields this version does not know";
	case EPROTONOSUPPORT: return "Unknown URI scheme";
	case EBADF:           return "Bad descriptor, or channel not open in this direction";
	case EACCES:          return "Permission denied (object owned by another user)";
	case EEXIST:          return "Already exists";
	case ENOENT:          return "No such file or directory";
	case ENOMEM:          return "Out of memory";
	case ENOSPC:          return "No space left (buffer or device)";
	case EMFILE:          return "Too many open files in this process";
	case ENFILE:          return "Too many open files in the system";
	case ECONNREFUSED:    return "Connection refused";
	case EADDRINUSE:      return "Address already in use";
	case EBUSY:           return "Resource busy";
	case ESRCH:           return "No such process";
	case EPERM:           return "Operation not permitted";
	case EINTR:           return "Interrupted";
	case EKEYREJECTED:    return "TLS peer refused: certificate chain, name or missing certificate";
	case EKEYEXPIRED:     return "TLS certificate expired or not yet valid";
	case ENOTCONN:        return "No peer certificate";
	case ERANGE:          return "Result too large for the buffer";
	case EOPNOTSUPP:      return "Not supported (by this transport, or not the expected kind of object)";
	default:
		break;
	}
	if (rc > -4096)
		return strerror(-rc);   /* glibc: thread-safe for valid codes */
	return "Unknown error";
}
