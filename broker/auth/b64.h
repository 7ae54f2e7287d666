/* broker/auth/b64.h - standard base64 (RFC 4648 section 4) decoding for the password, scram_file
 * and SCRAM message parsers. Pure: no I/O, no allocation, callable from any thread. */
#ifndef B64_H
#define B64_H

#include <stddef.h>
#include <stdint.h>

enum b64_pad {
	B64_PAD_OPTIONAL, /* "YQ" or "YQ==": the password file's salt and hash (auth.c) */
	B64_PAD_REQUIRED, /* "YQ==" only: RFC 5802 section 7's base64 (scram.c, auth_scram.c) */
};

/* Decodes the n characters at s into out[cap]: the standard alphabet, no blanks, the unused
 * bits of the last character zero (one encoding per byte string), '=' padding as pad says.
 * Returns the byte count, or -1 if s is not such base64 or does not fit in cap. */
int b64_decode(const char *s, size_t n, enum b64_pad pad, uint8_t *out, size_t cap);

#endif
