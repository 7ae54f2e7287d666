/* tests/unit/proto/vectors.h - the canonical valid packets shared by the codec tests: each
 * decodes whole at its level and re-encodes to the same bytes (properties in id order, user
 * properties then subscription ids last, shortest forms). */
#ifndef VECTORS_H
#define VECTORS_H

#include <stddef.h>
#include <stdint.h>

/* A packet mqtt_decode() accepts whole, at connection level `version`. */
struct valid_vec {
	const char *name;
	uint8_t version;
	const uint8_t *in;
	size_t len;
};

extern const struct valid_vec valid_vecs[];
extern const int n_valid_vecs;

#endif
