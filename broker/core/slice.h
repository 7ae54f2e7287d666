/* broker/core/slice.h - work too large for one loop turn (a SUBSCRIBE of millions of filters, the
 * end of a session holding millions), done a slice per turn so every other client of the worker is
 * still served between slices. A worker runs one queued slice per loop turn, round robin, each
 * for at most SLICE_NS. Everything here is on the worker's loop. */
#ifndef SLICE_H
#define SLICE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How long one slice may hold the loop: small against a client's 100 ms round trip. */
#define SLICE_NS (2 * 1000 * 1000)

struct worker;
struct slice;

/* Does a part of the work, until uv_hrtime() passes deadline (UINT64_MAX: all of it). Returns
 * true when the work is over: sl is off the queue then, and run may have freed it. */
typedef bool slice_run_cb(struct slice *sl, uint64_t deadline);

/* Embedded in the owner of the work. */
struct slice {
	struct slice *next;
	slice_run_cb *run;
	bool queued;
};

/* Sets up n's queue (uv_idle_t, stopped while empty). Returns 0 or a negative errno. */
int slice_init(struct worker *w);
/* Runs every queued slice to its end (the loop stops: nothing may wait any more). */
void slice_fini(struct worker *w);
/* Queues sl (borrowed: it must stay valid until run returns true or slice_cancel). */
void slice_add(struct worker *w, struct slice *sl, slice_run_cb *run);
/* Takes sl off n's queue if it is there. */
void slice_cancel(struct worker *w, struct slice *sl);
/* The deadline of a slice that starts now. */
uint64_t slice_deadline(void);

#endif
