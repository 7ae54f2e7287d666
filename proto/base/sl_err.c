#include "sl_err.h"

#include <string.h>

const char *
sl_strerror(int status)
{
	/* libuv's codes on Linux are negated errnos, so strerror covers both domains. */
	return strerror(status < 0 ? -status : status);
}
