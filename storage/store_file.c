/* storage/store_file.c - placeholder until this backend lands: opening it fails. */
#include <errno.h>

#include "store_be.h"

static int
stub_open(const struct store_conf *cf, bool sessions, bool retained, void **be, char **err)
{
	(void)cf;
	(void)sessions;
	(void)retained;
	(void)be;
	*err = NULL;
	return -ENOSYS;
}

const struct store_be_ops store_file_ops = {.name = "file", .open = stub_open};
