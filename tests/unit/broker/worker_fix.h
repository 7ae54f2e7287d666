/* tests/unit/broker/worker_fix.h - a real one-worker node (no listener started, no store) for
 * tests of sessions and routing: worker_fix_up() in a Check fixture's setup, worker_fix_down()
 * in its teardown. */
#ifndef WORKER_FIX_H
#define WORKER_FIX_H

#include "broker/conf/conf.h"
#include "broker/core/broker.h"
#include "broker/core/worker.h"

struct worker_fix {
	struct conf cf;
	struct broker b;
	struct worker *w; /* the worker */
};

/* Fills f (owned by the caller) and returns its worker. Fails the test on an error. */
struct worker *worker_fix_up(struct worker_fix *f);
void worker_fix_down(struct worker_fix *f);

#endif
