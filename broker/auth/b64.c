/* broker/auth/b64.c - base64 decoding; the encoding side is OpenSSL's EVP_EncodeBlock. */
#include "broker/auth/b64.h"

static int
sextet(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	return ch == '/' ? 63 : -1;
}

int
b64_decode(const char *s, size_t n, enum b64_pad pad, uint8_t *out, size_t cap)
{
	size_t i, o = 0, npad = 0;
	uint32_t acc = 0;
	int bits = 0, v;

	if (pad == B64_PAD_REQUIRED && n % 4 != 0)
		return -1;
	while (n > 0 && s[n - 1] == '=' && npad < 2) {
		n--;
		npad++;
	}
	if ((npad > 0 && (n + npad) % 4 != 0) || n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = sextet(s[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1; /* non-canonical: the unused bits must be zero */
	return (int)o;
}
