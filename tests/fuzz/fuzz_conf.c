/* Fuzzes the configuration parser (broker/conf.c) through conf_load_string(), then reloads the
 * result onto a default configuration. Checks the contracts of broker/conf.h: an error is one
 * printable line naming the input, a success is complete (at least one listener, every string
 * default set, values in range), and everything is freed (ASan/LSan). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/conf/conf.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

#define NAME "fuzz.conf"

static void
check_error(const char *err)
{
	size_t i;

	if (strncmp(err, NAME ":", strlen(NAME ":")) != 0)
		abort(); /* "file:line: message" */
	for (i = 0; err[i] != '\0'; i++)
		if ((unsigned char)err[i] < 0x20)
			abort(); /* one printable line */
}

static void
check_conf(const struct conf *c)
{
	size_t i;

	if (c->n_listeners == 0 || c->auto_id_prefix == NULL || c->log_dest == NULL ||
	    c->persistence_file == NULL || c->persistence_location == NULL)
		abort();
	if (c->max_qos > 2 || c->max_inflight_messages > 65535 || c->max_queued_messages < 0 ||
	    (c->max_packet_size != 0 && c->max_packet_size < 20) ||
	    c->max_packet_size > 268435455 || c->persistent_client_expiration == 0 ||
	    c->log_type_mask > 0x1f)
		abort();
	for (i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].port == 0 || c->listeners[i].protocol == NULL ||
		    c->listeners[i].max_connections < -1)
			abort();
}

static bool
contains(const uint8_t *data, size_t size, const char *word)
{
	size_t len = strlen(word), i;

	for (i = 0; i + len <= size; i++)
		if (memcmp(data + i, word, len) == 0)
			return true;
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, live;
	char err[256];
	char *text;

	/* include_dir reads the file system: nondeterministic, and slow with "include_dir /". */
	if (size > 65536 || contains(data, size, "include_dir"))
		return 0;
	text = sl_malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	sl_log_set_mask(0); /* warnings are counted either way; logging them is slow */
	conf_init(&c);
	if (conf_load_string(&c, NAME, text, err, sizeof(err)) < 0) {
		check_error(err);
	} else {
		check_conf(&c);
		conf_init(&live);
		if (conf_complete(&live) < 0 || conf_reload_apply(&live, &c) < 0)
			abort(); /* nothing fails allocating here */
		conf_fini(&live);
	}
	conf_fini(&c);
	sl_free(text);
	return 0;
}
