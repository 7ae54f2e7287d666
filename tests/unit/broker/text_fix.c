/* tests/unit/broker/text_fix.c - see text_fix.h. */
#include "text_fix.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

char *
text_fix_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}
