/* tests/unit/broker/node_fix.h - a real one-worker node (no listener started, no store) for
 * tests of sessions and routing: node_fix_up() in a Check fixture's setup, node_fix_down()
 * in its teardown. */
#ifndef NODE_FIX_H
#define NODE_FIX_H

#include "broker/core/node.h"

struct node_fix {
	struct conf cf;
	struct broker b;
	struct worker *w; /* the worker */
};

/* Fills f (owned by the caller) and returns its worker. Fails the test on an error. */
struct worker *node_fix_up(struct node_fix *f);
void node_fix_down(struct node_fix *f);

#endif
