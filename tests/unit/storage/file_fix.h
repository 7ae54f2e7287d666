/* tests/unit/storage/file_fix.h - a fixture for the embedded store's tests: a temporary
 * directory, a loop with a handle attached, a visitor that records what a load reports (and
 * checks its order), and a child process that dies without closing the store. */
#ifndef FILE_FIX_H
#define FILE_FIX_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/store.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A test's directory (tmp/data: the store creates data), loop, store and handle. */
struct fix {
	char tmp[64], dir[80];
	uv_loop_t loop;
	struct store *st;
	struct store_h *h;
};

/* The visitors: one line per record, a session's parts checked against the order the
 * backends promise (store_be.h), their seq increasing. */
struct seen {
	char lines[512][160];
	int n;
	int part; /* of client's records: 0 subs, 1 messages, 2 receive ids, 3 will */
	char client[64];
	uint64_t last_seq;
};

/* Records one line per record (sorted by fix_dump); arg is a struct seen. fix_visitor is
 * store_load's; fix_be_visitor a backend's own load's (storage/store_be.h). */
extern const struct store_visitor fix_visitor;
struct store_be_visitor;
extern const struct store_be_visitor fix_be_visitor;

struct sl_bytes fix_bv(const char *s);
/* A new message (topic, payload; 2 bytes of properties, expiry_at_ms 77). */
struct sl_msg *fix_msg(const char *topic, const char *payload);
void fix_rm_rf(const char *path);
/* Makes f->tmp, a new temporary directory; f->dir is tmp/data, not created. */
void fix_init(struct fix *f);
struct store_conf fix_conf(const struct fix *f, enum store_sync sync);
/* The lines seen, sorted, one per line (a static buffer). */
const char *fix_dump(struct seen *s);
/* Opens f->dir, loads into seen (may be NULL), attaches a handle on f->loop. */
void fix_open(struct fix *f, const struct store_conf *cf, struct seen *seen);
/* Waits on f->loop for a barrier; returns its status. */
int fix_barrier(struct fix *f);
/* Detaches, closes the loop and the store. */
void fix_close(struct fix *f);
/* Opens the directory again and returns what it holds (fix_dump). */
const char *fix_reload(struct fix *f, const struct store_conf *cf, struct seen *seen);
/* Runs fn in a child on a store of cf that then dies without closing anything: _exit after
 * a last barrier, or (kill9) SIGKILL from the parent once that barrier completed. */
void fix_in_child(struct fix *f, const struct store_conf *cf, void (*fn)(struct fix *), bool kill9);
/* Queues a message (qos 1, sub ids 3 and 9) for client at seq. */
void fix_put_q(struct store_h *h, const char *client, uint64_t seq, const char *payload);
/* Files prefix-<gen> in f->dir: how many, the lowest and highest gen. */
int fix_files(const struct fix *f, const char *prefix, unsigned long long *lo,
              unsigned long long *hi);
uint64_t fix_syncs(const struct fix *f);
/* Opens, loads and closes the store; returns how many queued messages it reported. */
uint64_t fix_reload_count(const struct store_conf *cf);

#endif
