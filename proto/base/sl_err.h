/* proto/base/sl_err.h - status codes and assertions shared by every module. */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* An assert that never compiles out (Release adds -DNDEBUG): guards our own invariants only. */
#define SL_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Text for a status: a negative errno or libuv code. Never NULL. */
const char *sl_strerror(int status);

#endif
