/* storage/store_file.h - the parts of the embedded backend (store_file_ops in store_be.h):
 * store_file.c (directory, lock, log writes, sync policy, snapshots), store_file_model.c (the
 * state in memory, from which snapshots and store_load are made) and store_file_rec.c (records:
 * framing, checksums, encoding, replay). Private to storage/. All of it runs on one thread at a
 * time: the opening thread until start(), then the backend's thread.
 *
 * On disk, in the data directory (mode 0700):
 *   lock            flock'd while a process has the store open
 *   snap-<gen>      the whole state as it was when log-<gen> began (16 hex digits)
 *   log-<gen>       every write since, appended in batches
 *   snap.tmp        a snapshot being written (renamed to snap-<gen> once fsynced)
 * Recovery loads the newest snapshot (none: empty state), then replays every log of its
 * generation or later, oldest first; older files are stale and deleted.
 *
 * A file is a sequence of records, integers little endian:
 *   u32 len   bytes of kind + payload (>= 1)
 *   u32 crc   CRC32C of the len field, kind and payload
 *   u8  kind  enum store_file_kind
 *   payload   (strings are u32 length + bytes + NUL, the NUL counted in the length)
 * The first record is a HEAD (magic, format version, file type, generation); a snapshot ends
 * with an END (records before it). Messages are MSG records (u32 id + store_msg_encode) that
 * Q_PUT, WILL_PUT and RET_PUT refer to by id, so a message queued for many sessions is written
 * once per log batch and once per snapshot. In a log the ids restart at 0 with each batch
 * (a MSG with id 0 forgets the earlier ones); in a snapshot they count up from 0. */
#ifndef STORE_FILE_H
#define STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"
#include "store_be.h"

#define STORE_FILE_MAGIC 0x4c525453u /* "STRL" */
#define STORE_FILE_VERSION 1
#define STORE_FILE_HDR 8                /* len + crc */
#define STORE_FILE_MAX_REC (512u << 20) /* a 256 MB MQTT message and its keys fit */

enum store_file_type {
	STORE_FILE_LOG = 1,
	STORE_FILE_SNAP = 2,
};

/* Record kinds: on-disk values, never renumber. */
enum store_file_kind {
	SF_HEAD = 1,      /* u32 magic, u16 version, u8 type, u64 generation */
	SF_END = 2,       /* u64 records before this one */
	SF_MSG = 3,       /* u32 id, message */
	SF_SESS_PUT = 4,  /* str client id, u8 version, u32 expiry, u64 expire_at */
	SF_SESS_DEL = 5,  /* str client id */
	SF_SUB_PUT = 6,   /* str client id, str filter, u8 options, u32 sub id */
	SF_SUB_DEL = 7,   /* str client id, str filter */
	SF_Q_PUT = 8,     /* str client id, u64 seq, u16 pid, u8 qos, u8 state, u8 retain,
	                   * u8 n, u32 sub ids[n], u32 message id */
	SF_Q_STATE = 9,   /* str client id, u64 seq, u8 state, u16 pid */
	SF_Q_DEL = 10,    /* str client id, u64 seq */
	SF_RX_PUT = 11,   /* str client id, u16 pid */
	SF_RX_DEL = 12,   /* str client id, u16 pid */
	SF_WILL_PUT = 13, /* str client id, u64 at_ms, u32 message id */
	SF_WILL_DEL = 14, /* str client id */
	SF_RET_PUT = 15,  /* u32 message id (the topic is the message's) */
	SF_RET_DEL = 16,  /* str topic */
};

/* CRC32C (Castagnoli), table driven. Start with crc 0; feed pieces in order. */
uint32_t store_file_crc(uint32_t crc, const void *p, size_t n);

/* A string-keyed open-addressing hash table (linear probing, backward-shift deletion). The
 * keys are borrowed: each lives in its value. */
struct store_file_slot {
	const char *key; /* NULL: free */
	uint32_t len, hash;
	void *val;
};
struct store_file_map {
	struct store_file_slot *slot;
	uint32_t cap, n; /* cap a power of two, or 0 */
	uint32_t seed;
};
/* The slot of key: found, or (create) a new one with key set and val NULL for the caller to
 * fill. NULL if absent (!create) or out of memory. Invalidated by the next create. */
struct store_file_slot *store_file_map_slot(struct store_file_map *m, const char *key, size_t len,
                                            bool create);
/* Removes the slot (from store_file_map_slot) and returns its value. */
void *store_file_map_del(struct store_file_map *m, struct store_file_slot *s);
void store_file_map_fini(struct store_file_map *m);

/* Message ids handed out while encoding one log batch or one snapshot: the first reference
 * to a message writes it as a MSG record. */
struct store_file_ids {
	struct store_file_id *slot;
	uint32_t cap, n, next;
	uint64_t stamp; /* slots of older stamps are free */
};
/* Forgets every id: the next message gets id 0. */
void store_file_ids_reset(struct store_file_ids *ids);
void store_file_ids_fini(struct store_file_ids *ids);

/* Record writing. Each returns 0 or -ENOMEM (b is then as it was). */
int store_file_put_head(struct sl_buf *b, uint8_t type, uint64_t gen);
int store_file_put_end(struct sl_buf *b, uint64_t records);
/* Appends the record of a write op (not a barrier), after a MSG record when the op's message
 * has no id yet in ids. *records counts what was appended. */
int store_file_put_op(struct sl_buf *b, struct store_file_ids *ids, const struct store_op *op,
                      uint64_t *records);

struct store_file_model;

/* What a scan of a file found. */
struct store_file_scan {
	size_t good;      /* bytes of whole, valid records from the start */
	uint64_t records; /* how many */
	const char *why;  /* NULL: clean to the end; else why the rest is unusable */
	bool ended;       /* an END record closed the file (it must be the last) */
};
/* Applies to m the records of one file (p, len) of type and generation gen, stopping at the
 * first that is torn, corrupt or malformed (sc says where and why). Returns 0, or -ENOMEM. */
int store_file_scan(struct store_file_model *m, const uint8_t *p, size_t len, uint8_t type,
                    uint64_t gen, struct store_file_scan *sc);

/* The in-memory state: what the records written so far add up to. */
struct store_file_model {
	struct store_file_map sess; /* client id -> struct store_file_sess */
	struct store_file_map ret;  /* topic (inside the message) -> struct sl_msg (a reference) */
	bool sessions, retained;    /* which records this backend keeps; others are ignored */
};
void store_file_model_init(struct store_file_model *m, bool sessions, bool retained);
void store_file_model_fini(struct store_file_model *m);
/* Applies one write op (not a barrier). Takes op->q.msg and op->msg (set to NULL) when it keeps
 * them. Unknown keys are fine (a delete of nothing does nothing). Returns 0; -ENOMEM (the op is
 * not applied, though an empty entry for its session may remain); or -EINVAL for a Q_PUT,
 * WILL_PUT or RET_PUT without a message. */
int store_file_apply(struct store_file_model *m, struct store_op *op);
/* Reports m in the order of store_be.h. Returns 0 or the visitor's non-zero return. Sessions
 * without a SESS_PUT (their other records came first) are kept but not reported. */
int store_file_visit(const struct store_file_model *m, const struct store_be_visitor *v, void *arg);
/* Appends a snapshot of m of generation gen: HEAD, records, END. Returns 0 or -ENOMEM. */
int store_file_snapshot(const struct store_file_model *m, uint64_t gen, struct sl_buf *b);

#endif
