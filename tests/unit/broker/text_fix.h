/* tests/unit/broker/text_fix.h - reading a whole (small) file in a broker unit test. */
#ifndef TEXT_FIX_H
#define TEXT_FIX_H

/* The file's contents, up to 1 MiB, NUL-terminated; free() it. Fails the test on an error. */
char *text_fix_read(const char *path);

#endif
