/* broker/slice.c - a worker's queue of work done a slice per loop turn (slice.h). */
#include "broker/slice.h"

#include "broker/node.h"
#include "proto/base/sl_err.h"

static void
on_idle(uv_idle_t *h)
{
	struct node *n = container_of(h, struct node, slice_idle);
	struct slice *sl = n->slices;

	if (sl == NULL) {
		uv_idle_stop(h);
		return;
	}
	/* Off the queue while it runs: run may add or cancel other slices. */
	n->slices = sl->next;
	if (n->slices == NULL)
		n->slices_tail = NULL;
	sl->queued = false;
	if (!sl->run(sl, slice_deadline()))
		slice_add(n, sl, sl->run); /* the others go first */
	if (n->slices == NULL)
		uv_idle_stop(h);
}

int
slice_init(struct node *n)
{
	n->slices = n->slices_tail = NULL;
	return uv_idle_init(n->loop, &n->slice_idle);
}

void
slice_fini(struct node *n)
{
	struct slice *sl;

	while ((sl = n->slices) != NULL) {
		n->slices = sl->next;
		sl->queued = false;
		sl->run(sl, UINT64_MAX);
	}
	n->slices_tail = NULL;
	uv_idle_stop(&n->slice_idle);
}

void
slice_add(struct node *n, struct slice *sl, slice_run_cb *run)
{
	sl->run = run;
	sl->next = NULL;
	sl->queued = true;
	if (n->slices_tail != NULL)
		n->slices_tail->next = sl;
	else
		n->slices = sl;
	n->slices_tail = sl;
	/* An idle handle keeps the loop's poll from blocking while work waits. */
	uv_idle_start(&n->slice_idle, on_idle);
}

void
slice_cancel(struct node *n, struct slice *sl)
{
	struct slice **pp = &n->slices, *prev = NULL;

	if (!sl->queued)
		return;
	while (*pp != sl) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = sl->next;
	if (n->slices_tail == sl)
		n->slices_tail = prev;
	sl->queued = false;
}

uint64_t
slice_deadline(void)
{
	return uv_hrtime() + SLICE_NS;
}
