/* broker/core/slice.c - a worker's queue of work done a slice per loop turn (slice.h). */
#include "broker/core/slice.h"

#include "broker/core/worker.h"
#include "proto/base/sl_err.h"

static void
on_idle(uv_idle_t *h)
{
	struct worker *w = container_of(h, struct worker, slice_idle);
	struct slice *sl = w->slices;

	if (sl == NULL) {
		uv_idle_stop(h);
		return;
	}
	/* Off the queue while it runs: run may add or cancel other slices. */
	w->slices = sl->next;
	if (w->slices == NULL)
		w->slices_tail = NULL;
	sl->queued = false;
	if (!sl->run(sl, slice_deadline()))
		slice_add(w, sl, sl->run); /* the others go first */
	if (w->slices == NULL)
		uv_idle_stop(h);
}

int
slice_init(struct worker *w)
{
	w->slices = w->slices_tail = NULL;
	return uv_idle_init(w->loop, &w->slice_idle);
}

void
slice_fini(struct worker *w)
{
	struct slice *sl;

	while ((sl = w->slices) != NULL) {
		w->slices = sl->next;
		sl->queued = false;
		sl->run(sl, UINT64_MAX);
	}
	w->slices_tail = NULL;
	uv_idle_stop(&w->slice_idle);
}

void
slice_add(struct worker *w, struct slice *sl, slice_run_cb *run)
{
	sl->run = run;
	sl->next = NULL;
	sl->queued = true;
	if (w->slices_tail != NULL)
		w->slices_tail->next = sl;
	else
		w->slices = sl;
	w->slices_tail = sl;
	/* An idle handle keeps the loop's poll from blocking while work waits. */
	uv_idle_start(&w->slice_idle, on_idle);
}

void
slice_cancel(struct worker *w, struct slice *sl)
{
	struct slice **pp = &w->slices, *prev = NULL;

	if (!sl->queued)
		return;
	while (*pp != sl) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = sl->next;
	if (w->slices_tail == sl)
		w->slices_tail = prev;
	sl->queued = false;
}

uint64_t
slice_deadline(void)
{
	return uv_hrtime() + SLICE_NS;
}
