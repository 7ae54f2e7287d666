/* tests/unit/storage/redis_fix.h - a fixture for the Redis store's tests: a redis-server per
 * test case (tests/services/redis.sh in a temp dir on a free port; the tests skip without
 * redis-server), blocking admin commands, stores opened on a db, a visitor keeping what a load
 * reports, and loop helpers. Every failure is a Check assertion. */
#ifndef REDIS_FIX_H
#define REDIS_FIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "storage/store.h"

#define REDIS_FIX_PASS "s3cret" /* what redis_fix_up_pass's server requires */

/* What one store heard from the others (retain_changed runs on its backend thread). */
struct redis_fix_rec {
	pthread_mutex_t mu;
	char topic[64], payload[64];
	char first_put[64]; /* topic of the first put heard */
	bool gone;
	unsigned puts, dels;
};

/* Retained messages a load reported (references held). */
struct redis_fix_loaded {
	struct sl_msg **v;
	size_t n, cap;
};

struct redis_fix_bwait {
	bool done;
	int status;
};

/* Unchecked fixtures (run in the runner; the forked tests inherit the server). */
void redis_fix_up(void);
void redis_fix_up_pass(void); /* with requirepass REDIS_FIX_PASS */
void redis_fix_down(void);
/* Whether a server runs (else prints "skipped" once per test: no redis-server here). */
bool redis_fix_have(void);
/* The server crashes (SIGKILL), or starts again on its port and files (waits for PING). */
void redis_fix_kill9(void);
void redis_fix_start(void);

int redis_fix_free_port(void);
uint64_t redis_fix_ms(void); /* monotonic */
void redis_fix_sleep(unsigned ms);

/* A blocking connection on db (caller redisFree()s it). */
redisContext *redis_fix_connect(int db);
/* A command on db through its own connection; returns the reply (caller frees). */
redisReply *redis_fix_cmd(int db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "cmd key" on db, which must answer an integer. */
long long redis_fix_int(int db, const char *cmd, const char *key);

void redis_fix_rec_init(struct redis_fix_rec *r);
/* Whether r last heard topic set to payload (NULL: cleared). */
bool redis_fix_heard(struct redis_fix_rec *r, const char *topic, const char *payload);

/* A store on db (password pass, may be NULL) reporting changes to rec (may be NULL). With
 * errp, returns NULL and the error on failure; without, asserts success. */
struct store *redis_fix_open(int db, const char *pass, const char *node, struct redis_fix_rec *rec,
                             char **errp);
void redis_fix_load(struct store *st, struct redis_fix_loaded *ld);
struct sl_msg *redis_fix_find(const struct redis_fix_loaded *ld, const char *topic);
void redis_fix_loaded_fini(struct redis_fix_loaded *ld);

void redis_fix_on_bar(void *arg, int status); /* a store_done_cb for a struct redis_fix_bwait */
/* Runs loop until a new barrier on h completes (at most 15 s); returns its status. */
int redis_fix_barrier(uv_loop_t *loop, struct store_h *h);
/* Detaches h, lets loop close it, closes st. */
void redis_fix_close(uv_loop_t *loop, struct store *st, struct store_h *h);

/* A retained QoS 1 message with a content type, sender "pub-1", UTF-8 payload format. */
struct sl_msg *redis_fix_msg(const char *topic, const char *payload, uint64_t expiry_at_ms);
void redis_fix_put(struct store_h *h, const char *topic, const char *payload,
                   uint64_t expiry_at_ms);
/* m is such a message with payload and expiry. */
void redis_fix_assert_msg(const struct sl_msg *m, const char *payload, uint64_t expiry_at_ms);

#endif
