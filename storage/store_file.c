/* storage/store_file.c - the embedded backend (store_file_ops): an append-only log with group
 * commit, snapshots that compact it, and recovery (format and files in store_file.h).
 *
 * A batch from the core is encoded into one buffer, applied to the in-memory model and written
 * with one pwrite; ops then wait in fs->wait for the fdatasync that makes them durable, as
 * cf->sync says (ALWAYS: after each batch; BATCH: at most every batch_ms; NONE: none, done
 * once written). Ops complete in order, so a barrier completes after everything before it.
 * With BATCH the batches of one group commit are held (fs->held) and encoded together just
 * before its fdatasync: nothing is durable sooner either way, and a message queued for an
 * online subscriber and acknowledged within those few ms cancels out (cancel_pairs).
 *
 * A snapshot serializes the model on this thread, starts the next log, and writes, fsyncs and
 * renames the snapshot on the libuv threadpool while new writes go to the new log. When a write
 * or fdatasync fails, the log can no longer be trusted: every op fails (barriers included) until
 * a snapshot, which rewrites the whole state from the model, has been installed. */
#include "store_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/base/sl_alloc.h"
#include "proto/base/sl_err.h"
#include "proto/base/sl_log.h"

#define MOD "store"
#define HEAD_SIZE (STORE_FILE_HDR + 1 + 4 + 2 + 1 + 8)
#define GROW_SLACK (64ull << 20) /* compact when the log passes 4 x snapshot + this */
#define RETRY_NS 5000000000ull   /* after a failed snapshot, before the next try */
#define OUT_KEEP (8u << 20)      /* batch buffer kept between batches, at most */

struct fstore {
	struct store_file_model m;
	char *dir;
	int dirfd, lockfd, logfd;
	uint64_t gen;       /* of the log appended to, log-<gen> */
	uint64_t first_log; /* oldest log on disk */
	uint64_t snap_gen;  /* newest snapshot on disk; 0: none */
	uint64_t log_size;  /* bytes of whole records in the log */
	uint64_t snap_size;
	enum store_sync sync;
	uint32_t batch_ms, compact_s;
	uv_loop_t *loop;
	struct store_be *core;
	uv_timer_t sync_timer, compact_timer;
	uint64_t last_sync_ns;
	struct store_op *wait, **wait_tail; /* written, waiting to be durable, oldest first */
	struct store_op *held, **held_tail; /* BATCH: not encoded yet, until the next commit */
	uint32_t held_n;                    /* ops in held */
	bool unsynced;                      /* bytes written since the last fdatasync */
	struct sl_buf out;                  /* the batch being encoded */
	struct store_file_ids ids;
	struct snap_job *job; /* a snapshot being written, or NULL */
	/* BATCH: a group commit's fdatasync runs on the threadpool, so this thread goes on
	 * taking, cancelling and writing the next ops meanwhile (a slow fsync, 50-100 ms on a
	 * busy disk, no longer stops cancelled pairs from completing). */
	uv_work_t sync_req;
	bool syncing;                /* sync_req is out: the log fd stays as it is */
	int sync_rc;                 /* its fdatasync's, read in on_sync_done */
	struct store_op *synced_ops; /* what it makes durable, oldest first */
	int err;                     /* a write or sync failed (negative errno); 0: healthy */
	uint64_t err_gen;            /* the log it failed in */
	uint64_t retry_ns;           /* no snapshot before this (uv_hrtime), after a failure */
	bool stopping;
};

/* A snapshot written on the threadpool: it owns buf; the rest is read-only there. */
struct snap_job {
	uv_work_t req;
	struct fstore *fs;
	struct sl_buf buf;
	uint64_t gen;
	int dirfd;
	int rc;
	const char *what; /* the step that failed */
};

static void
file_name(char out[32], const char *prefix, uint64_t gen)
{
	snprintf(out, 32, "%s-%016llx", prefix, (unsigned long long)gen);
}

/* Sets *err (malloc'd, for the core) to "store: " + the message. Returns rc. */
static int set_err(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int
set_err(char **err, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((*err = malloc(strlen(msg) + 8)) != NULL)
		sprintf(*err, "store: %s", msg);
	return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Writes a whole snapshot: snap.tmp, fsync, rename to snap-<gen>, fsync the directory.
 * Blocking; runs on the threadpool, or on the backend's thread at stop. */
static int
snap_write(int dirfd, uint64_t gen, const struct sl_buf *b, const char **what)
{
	char name[32];
	int fd, rc = 0;

	file_name(name, "snap", gen);
	*what = "create snap.tmp";
	if ((fd = openat(dirfd, "snap.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	*what = "write snap.tmp";
	rc = write_all(fd, b->data, b->len, 0);
	if (rc == 0 && fsync(fd) < 0) {
		*what = "fsync snap.tmp";
		rc = -errno;
	}
	close(fd);
	if (rc == 0 && renameat(dirfd, "snap.tmp", dirfd, name) < 0) {
		*what = "rename snap.tmp";
		rc = -errno;
	}
	if (rc == 0 && fsync(dirfd) < 0) {
		*what = "fsync the directory";
		rc = -errno;
	}
	if (rc < 0)
		unlinkat(dirfd, "snap.tmp", 0);
	return rc;
}

/* Creates log-<gen> holding its HEAD, durable with its directory entry. Returns an fd. */
static int
log_create(int dirfd, uint64_t gen)
{
	struct sl_buf b = SL_BUF_INIT;
	char name[32];
	int fd, rc;

	file_name(name, "log", gen);
	if ((rc = store_file_put_head(&b, STORE_FILE_LOG, gen)) < 0)
		return rc;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = -errno;
	else if ((rc = write_all(fd, b.data, b.len, 0)) == 0 &&
	         (fdatasync(fd) < 0 || fsync(dirfd) < 0))
		rc = -errno;
	sl_buf_fini(&b);
	if (rc < 0 && fd >= 0)
		close(fd);
	return rc < 0 ? rc : fd;
}

/* Ends every waiting op with status, oldest first. */
static void
complete_waiting(struct fstore *fs, int status)
{
	struct store_op *op = fs->wait, *next;

	fs->wait = NULL;
	fs->wait_tail = &fs->wait;
	for (; op != NULL; op = next) {
		next = op->next;
		store_be_done(fs->core, op, status);
	}
}

/* The log can no longer be trusted (a write or sync failed, or the model missed a write):
 * nothing more goes into it, and everything fails until a snapshot newer than it is in place. */
static void
set_failed(struct fstore *fs, int rc, const char *what)
{
	if (fs->err == 0) {
		LOG_ERR(MOD,
		        "'%s/log-%016llx': %s failed: %s; writes fail until a snapshot succeeds",
		        fs->dir, (unsigned long long)fs->gen, what, strerror(-rc));
		fs->err = rc;
		store_be_set_up(fs->core, false);
	}
	/* Again in a later log too: appending after a partial write could put the stale end
	 * of a failed batch behind newer records. */
	fs->err_gen = fs->gen;
}

/* Makes everything written durable, then completes what waited for it. */
static void
sync_now(struct fstore *fs)
{
	if (fs->unsynced) {
		fs->unsynced = false;
		fs->last_sync_ns = uv_hrtime();
		if (fdatasync(fs->logfd) < 0)
			set_failed(fs, -errno, "fdatasync");
		else
			store_be_count_sync(fs->core);
	}
	complete_waiting(fs, fs->err);
}

static void commit(struct fstore *fs);
static void hold(struct fstore *fs, struct store_op *head, struct store_op *tail, uint32_t n);
static void schedule_sync(struct fstore *fs);
static void maybe_finish_stop(struct fstore *fs);

static void
on_sync_work(uv_work_t *req)
{
	struct fstore *fs = container_of(req, struct fstore, sync_req);

	fs->sync_rc = fdatasync(fs->logfd) < 0 ? -errno : 0;
}

static void
on_sync_done(uv_work_t *req, int status)
{
	struct fstore *fs = container_of(req, struct fstore, sync_req);
	struct store_op *op = fs->synced_ops, *next;
	int rc = status < 0 ? status : fs->sync_rc;

	fs->syncing = false;
	fs->synced_ops = NULL;
	if (rc < 0)
		set_failed(fs, rc, "fdatasync");
	else
		store_be_count_sync(fs->core);
	for (; op != NULL; op = next) {
		next = op->next;
		store_be_done(fs->core, op, fs->err);
	}
	schedule_sync(fs); /* what was written meanwhile */
	maybe_finish_stop(fs);
}

/* BATCH: makes everything written durable on the threadpool, then completes what waited for
 * it (on_sync_done). Inline when stopping or when the threadpool refuses. */
static void
sync_start(struct fstore *fs)
{
	if (fs->stopping) {
		sync_now(fs);
		return;
	}
	fs->unsynced = false;
	fs->last_sync_ns = uv_hrtime();
	fs->synced_ops = fs->wait;
	fs->wait = NULL;
	fs->wait_tail = &fs->wait;
	fs->syncing = true;
	if (uv_queue_work(fs->loop, &fs->sync_req, on_sync_work, on_sync_done) < 0) {
		fs->sync_rc = fdatasync(fs->logfd) < 0 ? -errno : 0;
		on_sync_done(&fs->sync_req, 0);
	}
}

static void
on_sync_timer(uv_timer_t *t)
{
	struct fstore *fs = t->data;
	struct store_op *head, *tail;
	uint32_t n;

	head = store_be_take(fs->core, &tail, &n); /* queued while quiet (fs_submit) */
	if (head != NULL)
		hold(fs, head, tail, n);
	if (fs->held != NULL)
		commit(fs); /* writes, then syncs what it wrote and what waited before */
	else
		schedule_sync(fs);
}

/* Group commit: sync now if the last one started batch_ms ago, else when it will have. One
 * fdatasync at a time: what is written meanwhile waits for the next (on_sync_done). */
static void
schedule_sync(struct fstore *fs)
{
	uint64_t since = uv_hrtime() - fs->last_sync_ns, every = fs->batch_ms * 1000000ull;

	if (fs->wait == NULL || fs->syncing || uv_is_active((uv_handle_t *)&fs->sync_timer))
		return;
	if (!fs->unsynced) { /* barriers alone: what came before them is durable already */
		complete_waiting(fs, 0);
	} else if (since >= every) {
		sync_start(fs);
	} else {
		/* The timer counts from now, not from the loop's last wakeup. */
		uv_update_time(fs->loop);
		uv_timer_start(&fs->sync_timer, on_sync_timer, (every - since + 999999) / 1000000,
		               0);
	}
}

/* Removes what a snapshot of gen made stale: older snapshots and logs. */
static void
snap_installed(struct fstore *fs, uint64_t gen, size_t size)
{
	char name[32];

	if (fs->snap_gen != 0) {
		file_name(name, "snap", fs->snap_gen);
		unlinkat(fs->dirfd, name, 0);
	}
	for (uint64_t g = fs->first_log; g < gen; g++) {
		file_name(name, "log", g);
		unlinkat(fs->dirfd, name, 0);
	}
	fs->first_log = gen;
	fs->snap_gen = gen;
	fs->snap_size = size;
	if (fs->err != 0 && gen > fs->err_gen) {
		LOG_NOTICE(MOD, "'%s': snapshot %016llx written, writes are durable again", fs->dir,
		           (unsigned long long)gen);
		fs->err = 0;
		store_be_set_up(fs->core, true);
	}
}

static void
finish_stop(struct fstore *fs)
{
	struct sl_buf b = SL_BUF_INIT;
	uint64_t gen = fs->gen + 1;
	const char *what = "encode";
	int rc;

	if (fs->held != NULL)
		commit(fs); /* into the model (and the log) first: the snapshot then holds them */
	rc = store_file_snapshot(&fs->m, gen, &b);

	if (rc == 0)
		rc = snap_write(fs->dirfd, gen, &b, &what);
	if (rc == 0) {
		snap_installed(fs, gen, b.len); /* removes the log too */
		complete_waiting(fs, 0);        /* the snapshot holds all of it */
	} else {
		LOG_ERR(MOD, "'%s': final snapshot: %s failed: %s; the log stays", fs->dir, what,
		        strerror(-rc));
		sync_now(fs);
	}
	sl_buf_fini(&b);
	close(fs->logfd);
	fs->logfd = -1;
	uv_close((uv_handle_t *)&fs->sync_timer, NULL);
	uv_close((uv_handle_t *)&fs->compact_timer, NULL);
}

/* Stops once neither a snapshot nor an fdatasync is out on the threadpool (their callbacks
 * call this again). */
static void
maybe_finish_stop(struct fstore *fs)
{
	if (fs->stopping && fs->job == NULL && !fs->syncing)
		finish_stop(fs);
}

static void
on_snap_work(uv_work_t *req)
{
	struct snap_job *job = container_of(req, struct snap_job, req);

	job->rc = snap_write(job->dirfd, job->gen, &job->buf, &job->what);
}

static void
on_snap_done(uv_work_t *req, int status)
{
	struct snap_job *job = container_of(req, struct snap_job, req);
	struct fstore *fs = job->fs;

	fs->job = NULL;
	if (status == 0 && job->rc == 0) {
		snap_installed(fs, job->gen, job->buf.len);
	} else {
		fs->retry_ns = uv_hrtime() + RETRY_NS;
		LOG_ERR(MOD, "'%s': snapshot %016llx: %s failed: %s", fs->dir,
		        (unsigned long long)job->gen, status < 0 ? "queue" : job->what,
		        strerror(status < 0 ? -status : -job->rc));
	}
	sl_buf_fini(&job->buf);
	sl_free(job);
	maybe_finish_stop(fs);
}

/* Moves appends to the new log fd of gen, once the old one is durable. */
static void
switch_log(struct fstore *fs, int fd, uint64_t gen)
{
	sync_now(fs);
	close(fs->logfd);
	fs->logfd = fd;
	fs->gen = gen;
	fs->log_size = HEAD_SIZE;
}

/* Serializes the model here, starts the next log, writes the snapshot on the threadpool. */
static void
start_snapshot(struct fstore *fs)
{
	struct snap_job *job;
	int fd, rc;

	/* Not while an fdatasync is out: the log's fd changes. The next flush or tick retries. */
	if (fs->job != NULL || fs->syncing || fs->stopping || uv_hrtime() < fs->retry_ns ||
	    (job = sl_calloc(1, sizeof(*job))) == NULL)
		return;
	job->fs = fs;
	job->gen = fs->gen + 1;
	job->dirfd = fs->dirfd;
	if ((rc = store_file_snapshot(&fs->m, job->gen, &job->buf)) < 0 ||
	    (rc = fd = log_create(fs->dirfd, job->gen)) < 0) {
		LOG_ERR(MOD, "'%s': cannot start snapshot %016llx: %s", fs->dir,
		        (unsigned long long)job->gen, strerror(-rc));
		goto fail;
	}
	switch_log(fs, fd, job->gen);
	if ((rc = uv_queue_work(fs->loop, &job->req, on_snap_work, on_snap_done)) < 0) {
		LOG_ERR(MOD, "'%s': cannot queue snapshot: %s", fs->dir, uv_strerror(rc));
		goto fail;
	}
	fs->job = job;
	return;
fail:
	fs->retry_ns = uv_hrtime() + RETRY_NS;
	sl_buf_fini(&job->buf);
	sl_free(job);
}

static void
on_compact_timer(uv_timer_t *t)
{
	struct fstore *fs = t->data;

	if (fs->log_size > HEAD_SIZE)
		start_snapshot(fs);
}

/* Encodes op into the batch and applies it to the model. Fails it (and returns < 0) if either
 * cannot be done. */
static int
take(struct fstore *fs, struct store_op *op)
{
	size_t at = fs->out.len;
	uint64_t records = 0;
	int rc = store_file_put_op(&fs->out, &fs->ids, op, &records);

	if (rc == 0 && (rc = store_file_apply(&fs->m, op)) < 0) {
		fs->out.len = at;               /* not applied, so not logged either */
		store_file_ids_reset(&fs->ids); /* its MSG record, if any, went too */
	}
	if (rc == -ENOMEM)
		set_failed(fs, rc, "allocation"); /* the model may lack a write: heal it */
	if (rc < 0)
		store_be_done(fs->core, op, rc);
	return rc;
}

/* Writes the encoded batch, then completes or holds its ops as the sync policy says. */
static void
flush(struct fstore *fs)
{
	int rc;

	if (fs->out.len > 0 && !(fs->err != 0 && fs->gen == fs->err_gen)) {
		if ((rc = write_all(fs->logfd, fs->out.data, fs->out.len, fs->log_size)) < 0) {
			set_failed(fs, rc, "write");
		} else {
			fs->log_size += fs->out.len;
			fs->unsynced = true;
		}
	}
	if (fs->out.cap > OUT_KEEP)
		sl_buf_fini(&fs->out);
	fs->out.len = 0;
	if (fs->err != 0) {
		complete_waiting(fs, fs->err);
		start_snapshot(fs); /* the way back: it rewrites the whole state */
	} else if (fs->sync == STORE_SYNC_NONE) {
		complete_waiting(fs, 0);
	} else if (fs->sync == STORE_SYNC_ALWAYS) {
		sync_now(fs);
	} else {
		schedule_sync(fs);
	}
	if (fs->log_size > 4 * fs->snap_size + GROW_SLACK)
		start_snapshot(fs);
}

/* Mixes the seq in, not just XORs it: sessions sent the same messages (fan-out) have the same
 * runs of seqs, and with h ^ seq each session's run landed on one contiguous block of slots;
 * the blocks overlapped into probe chains thousands long (a fifth of the broker's CPU at 20
 * subscribers). */
static uint32_t
q_hash(const char *key, uint64_t seq)
{
	uint64_t h = 14695981039346656037ull;

	while (*key)
		h = (h ^ (uint8_t)*key++) * 1099511628211ull;
	h ^= seq * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h ^ h >> 32);
}

/* A message queued for a session and acknowledged within one batch (the common case for an
 * online subscriber under load) need not reach the disk at all: its put, state changes and
 * delete are marked skip and complete with the batch, never encoded nor applied. */
/* The put in tab (cap slots) for op's key and seq, or the empty slot where it goes. */
static struct store_op **
put_slot(struct store_op **tab, uint32_t cap, const struct store_op *op)
{
	uint32_t i;

	for (i = q_hash(op->key, op->q.seq) & (cap - 1); tab[i] != NULL; i = (i + 1) & (cap - 1))
		if (tab[i]->q.seq == op->q.seq && strcmp(tab[i]->key, op->key) == 0)
			break;
	return &tab[i];
}

/* Counts the SOP_Q_PUT ops of the list at head. */
static uint32_t
count_puts(const struct store_op *head)
{
	uint32_t n = 0;

	for (; head != NULL; head = head->next)
		n += head->kind == SOP_Q_PUT;
	return n;
}

/* A message queued for a session and acknowledged within one batch (the common case for an
 * online subscriber under load) need not reach the disk at all: its put, state changes and
 * delete are marked skip and complete at once, never encoded nor applied. n: at least the puts
 * in the batch (sizes the table). Each pass over a batch of a group commit is a cache miss per
 * op (the workers wrote them on another core), so the passes are few: one here, one more only
 * for QoS 2. */
static void
cancel_pairs(struct store_op *head, uint32_t n)
{
	struct store_op **tab, **slot;
	uint32_t cap = 16;
	bool states = false;

	if (n == 0)
		return;
	while (cap < n + n / 2) /* at most two thirds full */
		cap *= 2;
	if ((tab = calloc(cap, sizeof(*tab))) == NULL)
		return; /* nothing cancelled: still correct */
	for (struct store_op *op = head; op != NULL; op = op->next) {
		if (op->kind != SOP_Q_PUT && op->kind != SOP_Q_STATE && op->kind != SOP_Q_DEL)
			continue;
		slot = put_slot(tab, cap, op);
		if (op->kind == SOP_Q_PUT) {
			if (*slot == NULL)
				*slot = op;
		} else if (*slot != NULL) {
			/* After its put in this batch: the state change or delete goes with it. */
			op->skip = true;
			states |= op->kind == SOP_Q_STATE;
			if (op->kind == SOP_Q_DEL)
				(*slot)->skip = true;
		}
	}
	/* A put whose delete is not in this batch must go out, with the states after it. */
	for (struct store_op *op = head; states && op != NULL; op = op->next) {
		if (op->kind == SOP_Q_STATE && op->skip)
			op->skip = (*put_slot(tab, cap, op))->skip;
	}
	free(tab);
}

/* Encodes, applies and writes the batch head (a list), then holds or completes its ops as the
 * sync policy says. */
static void
write_batch(struct fstore *fs, struct store_op *head, uint32_t puts)
{
	struct store_op *next;

	store_file_ids_reset(&fs->ids);
	cancel_pairs(head, puts);
	for (struct store_op *op = head; op != NULL; op = next) {
		next = op->next;
		op->next = NULL;
		if (op->skip) {
			store_be_done(fs->core, op, 0); /* nothing to wait for; no pass later */
			continue;
		}
		if (op->kind != SOP_BARRIER && !op->skip && take(fs, op) < 0)
			continue;
		*fs->wait_tail = op;
		fs->wait_tail = &op->next;
	}
	flush(fs);
}

/* BATCH: the group commit is due. Everything held goes out as one batch and is synced. */
static void
commit(struct fstore *fs)
{
	struct store_op *head = fs->held;

	fs->held = NULL;
	fs->held_tail = &fs->held;
	write_batch(fs, head, fs->held_n);
	fs->held_n = 0;
}

/* BATCH: appends the n ops head..tail to what the next commit writes, without a walk (a
 * cache miss per op). */
static void
hold(struct fstore *fs, struct store_op *head, struct store_op *tail, uint32_t n)
{
	*fs->held_tail = head;
	fs->held_tail = &tail->next;
	fs->held_n += n;
}

static void
fs_submit(void *be, struct store_op *head, struct store_op *tail, uint32_t n)
{
	struct fstore *fs = be;
	uint64_t since, every = fs->batch_ms * 1000000ull;

	if (fs->sync != STORE_SYNC_BATCH || fs->stopping) {
		write_batch(fs, head, count_puts(head));
		return;
	}
	hold(fs, head, tail, n);
	if (uv_is_active((uv_handle_t *)&fs->sync_timer))
		return; /* on_sync_timer commits them */
	since = uv_hrtime() - fs->last_sync_ns;
	if (since >= every) {
		commit(fs); /* idle until now: no reason to wait */
		return;
	}
	uv_update_time(fs->loop);
	uv_timer_start(&fs->sync_timer, on_sync_timer, (every - since + 999999) / 1000000, 0);
	/* Nothing is written before the timer: the workers need not wake this thread meanwhile
	 * (they did at every loop turn, a context switch each on a busy machine). */
	store_be_quiet(fs->core);
}

static int
fs_start(void *be, uv_loop_t *loop, struct store_be *core)
{
	struct fstore *fs = be;
	uint64_t ms = (uint64_t)fs->compact_s * 1000;

	fs->loop = loop;
	fs->core = core;
	uv_timer_init(loop, &fs->sync_timer);
	uv_timer_init(loop, &fs->compact_timer);
	fs->sync_timer.data = fs->compact_timer.data = fs;
	if (ms != 0)
		uv_timer_start(&fs->compact_timer, on_compact_timer, ms, ms);
	fs->last_sync_ns = uv_hrtime();
	return 0;
}

static void
fs_stop(void *be)
{
	struct fstore *fs = be;

	fs->stopping = true;
	uv_timer_stop(&fs->compact_timer);
	maybe_finish_stop(fs);
}

/* mkdir -p: creates each missing component of path with mode 0700. */
static int
make_dirs(char *path)
{
	for (char *p = path + 1;; p++) {
		char c = *p;
		int rc = 0;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		*p = c;
		if (rc < 0 || c == '\0')
			return rc;
	}
}

static int
dir_open(struct fstore *fs, char **err)
{
	int rc;

	if (fs->dir[0] == '\0')
		return set_err(err, -EINVAL, "persistence_location is empty");
	if ((rc = make_dirs(fs->dir)) < 0)
		return set_err(err, rc, "cannot create '%s': %s", fs->dir, strerror(-rc));
	if ((fs->dirfd = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return set_err(err, -errno, "cannot open '%s': %s", fs->dir, strerror(errno));
	fs->lockfd = openat(fs->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->lockfd < 0)
		return set_err(err, -errno, "cannot open '%s/lock': %s", fs->dir, strerror(errno));
	if (flock(fs->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return set_err(err, -EBUSY,
			               "'%s' is in use by another process (lock '%s/lock')",
			               fs->dir, fs->dir);
		return set_err(err, -errno, "cannot lock '%s/lock': %s", fs->dir, strerror(errno));
	}
	return 0;
}

/* What the directory holds: the newest snapshot and the logs, sorted. */
struct files {
	uint64_t snap;
	uint64_t *logs;
	size_t n, cap;
};

/* The generation in name if it is prefix-<16 hex digits>, else 0. */
static uint64_t
name_gen(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	uint64_t g;

	if (strncmp(name, prefix, n) != 0 || strlen(name) != n + 16 || name[n] == '+' ||
	    name[n] == '-')
		return 0;
	g = strtoull(name + n, &end, 16);
	return *end == '\0' ? g : 0;
}

static int
cmp_gen(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
files_add(struct files *f, uint64_t gen)
{
	if (f->n == f->cap) {
		size_t cap = f->cap != 0 ? f->cap * 2 : 8;
		uint64_t *logs = sl_realloc(f->logs, cap * sizeof(*logs));

		if (logs == NULL)
			return -ENOMEM;
		f->logs = logs;
		f->cap = cap;
	}
	f->logs[f->n++] = gen;
	return 0;
}

static int
list_files(struct fstore *fs, struct files *f, char **err)
{
	DIR *d = opendir(fs->dir);
	struct dirent *e;
	uint64_t g;
	int rc = 0;

	if (d == NULL)
		return set_err(err, -errno, "cannot list '%s': %s", fs->dir, strerror(errno));
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if ((g = name_gen(e->d_name, "snap-")) != 0 && g > f->snap)
			f->snap = g;
		else if ((g = name_gen(e->d_name, "log-")) != 0)
			rc = files_add(f, g);
		else if (strcmp(e->d_name, "snap.tmp") == 0)
			unlinkat(fs->dirfd, e->d_name, 0); /* an unfinished snapshot */
	}
	closedir(d);
	if (f->n > 1)
		qsort(f->logs, f->n, sizeof(*f->logs), cmp_gen);
	return rc;
}

/* Maps a whole file read-only (*p NULL when empty). Returns 0 or a negative errno. */
static int
map_file(int dirfd, const char *name, uint8_t **p, size_t *len)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), rc = 0;

	*p = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (st.st_size > 0) {
		*p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (*p == MAP_FAILED) {
			*p = NULL;
			rc = -errno;
		}
		*len = (size_t)st.st_size;
	}
	close(fd);
	return rc;
}

static int
load_snap(struct fstore *fs, uint64_t gen, char **err)
{
	struct store_file_scan sc;
	char name[32];
	uint8_t *p;
	size_t len;
	int rc;

	file_name(name, "snap", gen);
	if ((rc = map_file(fs->dirfd, name, &p, &len)) < 0)
		return set_err(err, rc, "cannot read '%s/%s': %s", fs->dir, name, strerror(-rc));
	rc = store_file_scan(&fs->m, p, len, STORE_FILE_SNAP, gen, &sc);
	if (p != NULL)
		munmap(p, len);
	if (rc < 0)
		return set_err(err, rc, "loading '%s/%s': %s", fs->dir, name, strerror(-rc));
	/* A snapshot is fsynced before it is renamed into place: damage is not a torn write,
	 * and starting without it would silently drop sessions. Refuse and say so. */
	if (sc.why != NULL || !sc.ended)
		return set_err(err, -EBADMSG,
		               "snapshot '%s/%s' is damaged at byte %zu of %zu (%s); restore it or "
		               "move '%s' away to start empty",
		               fs->dir, name, sc.good, len,
		               sc.why != NULL ? sc.why : "no end record", fs->dir);
	fs->snap_gen = gen;
	fs->snap_size = len;
	return 0;
}

/* Cuts the last log after its last good record, or rewrites its header if none was good. */
static int
log_reopen(struct fstore *fs, const char *name, const struct store_file_scan *sc, size_t len)
{
	struct sl_buf b = SL_BUF_INIT;
	int rc = 0;

	if ((fs->logfd = openat(fs->dirfd, name, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	fs->log_size = sc->good;
	if (sc->records == 0) {
		if ((rc = store_file_put_head(&b, STORE_FILE_LOG, fs->gen)) == 0)
			rc = write_all(fs->logfd, b.data, b.len, 0);
		fs->log_size = b.len;
		sl_buf_fini(&b);
	}
	if (rc == 0 && fs->log_size != len &&
	    (ftruncate(fs->logfd, (off_t)fs->log_size) < 0 || fdatasync(fs->logfd) < 0))
		rc = -errno;
	return rc;
}

/* Replays log-<gen>; the last one is then opened for appending. */
static int
replay_log(struct fstore *fs, uint64_t gen, bool last, char **err)
{
	struct store_file_scan sc;
	char name[32];
	uint8_t *p;
	size_t len;
	int rc;

	file_name(name, "log", gen);
	if ((rc = map_file(fs->dirfd, name, &p, &len)) < 0)
		return set_err(err, rc, "cannot read '%s/%s': %s", fs->dir, name, strerror(-rc));
	rc = store_file_scan(&fs->m, p, len, STORE_FILE_LOG, gen, &sc);
	if (p != NULL)
		munmap(p, len);
	if (rc < 0)
		return set_err(err, rc, "loading '%s/%s': %s", fs->dir, name, strerror(-rc));
	if (sc.why != NULL)
		LOG_WARN(MOD, "'%s/%s': %s at byte %zu: dropped the last %zu bytes%s", fs->dir,
		         name, sc.why, sc.good, len - sc.good,
		         last ? "" : " (not the newest log: writes after it were kept)");
	fs->gen = gen;
	if (last && (rc = log_reopen(fs, name, &sc, len)) < 0)
		return set_err(err, rc, "cannot repair '%s/%s': %s", fs->dir, name, strerror(-rc));
	return 0;
}

/* Loads the newest snapshot, replays the logs since, opens (or starts) the log to append. */
static int
recover(struct fstore *fs, char **err)
{
	struct files f = {0, NULL, 0, 0};
	char name[32];
	size_t i;
	int rc;

	if ((rc = list_files(fs, &f, err)) < 0 ||
	    (f.snap != 0 && (rc = load_snap(fs, f.snap, err)) < 0))
		goto out;
	for (i = 0; i < f.n && f.logs[i] < f.snap; i++) {
		file_name(name, "log", f.logs[i]);
		unlinkat(fs->dirfd, name, 0); /* older than the snapshot: in it already */
	}
	fs->first_log = i < f.n ? f.logs[i] : 0;
	for (uint64_t want = f.snap != 0 ? f.snap : fs->first_log; i < f.n && rc == 0; i++) {
		if (f.logs[i] != want)
			LOG_WARN(MOD, "'%s': logs %016llx to %016llx are missing", fs->dir,
			         (unsigned long long)want, (unsigned long long)f.logs[i] - 1);
		rc = replay_log(fs, f.logs[i], i + 1 == f.n, err);
		want = f.logs[i] + 1;
	}
	if (rc == 0 && fs->logfd < 0) { /* no log since the snapshot: start one */
		fs->gen = fs->first_log = f.snap != 0 ? f.snap : 1;
		fs->log_size = HEAD_SIZE;
		if ((fs->logfd = rc = log_create(fs->dirfd, fs->gen)) < 0)
			rc = set_err(err, rc, "cannot create a log in '%s': %s", fs->dir,
			             strerror(-rc));
	}
out:
	sl_free(f.logs);
	return rc;
}

static void
fs_free(void *be)
{
	struct fstore *fs = be;

	if (fs->logfd >= 0)
		close(fs->logfd);
	if (fs->lockfd >= 0)
		close(fs->lockfd); /* releases the flock */
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	store_file_model_fini(&fs->m);
	store_file_ids_fini(&fs->ids);
	sl_buf_fini(&fs->out);
	sl_free(fs->dir);
	sl_free(fs);
}

static int
fs_open(const struct store_conf *cf, bool sessions, bool retained, void **be, char **err)
{
	struct fstore *fs = sl_calloc(1, sizeof(*fs));
	int rc;

	*err = NULL;
	if (fs == NULL)
		return -ENOMEM;
	fs->dirfd = fs->lockfd = fs->logfd = -1;
	fs->wait_tail = &fs->wait;
	fs->held_tail = &fs->held;
	fs->sync = cf->sync;
	fs->batch_ms = cf->batch_ms != 0 ? cf->batch_ms : 2;
	fs->compact_s = cf->compact_s;
	store_file_model_init(&fs->m, sessions, retained);
	if ((fs->dir = sl_strdup(cf->dir)) == NULL)
		rc = -ENOMEM;
	else if ((rc = dir_open(fs, err)) == 0)
		rc = recover(fs, err);
	if (rc < 0) {
		fs_free(fs);
		return rc;
	}
	LOG_INFO(MOD, "'%s': %u sessions, %u retained messages (snapshot %016llx, log %016llx)",
	         fs->dir, fs->m.sess.n, fs->m.ret.n, (unsigned long long)fs->snap_gen,
	         (unsigned long long)fs->gen);
	*be = fs;
	return 0;
}

static int
fs_load(void *be, const struct store_be_visitor *v, void *arg)
{
	struct fstore *fs = be;

	return store_file_visit(&fs->m, v, arg);
}

const struct store_be_ops store_file_ops = {
        .name = "file",
        .open = fs_open,
        .load = fs_load,
        .start = fs_start,
        .submit = fs_submit,
        .stop = fs_stop,
        .free = fs_free,
};
