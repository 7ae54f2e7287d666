/* tests/unit/broker/worker_fix.c - see worker_fix.h. */
#include "worker_fix.h"
#include "broker/index/retain.h"
#include "broker/index/topic.h"

#include <check.h>
#include <string.h>

#include "proto/base/sl_alloc.h"

struct worker *
worker_fix_up(struct worker_fix *f)
{
	memset(f, 0, sizeof(*f));
	conf_init(&f->cf);
	ck_assert_int_eq(conf_complete(&f->cf), 0);
	atomic_init(&f->b.conf, &f->cf);
	f->b.n_workers = 1;
	pthread_mutex_init(&f->b.share_mu, NULL);
	f->b.retained = retain_new();
	f->b.shared = topic_tree_new();
	f->b.listener_conns = sl_calloc(f->cf.n_listeners + 1, sizeof(*f->b.listener_conns));
	f->b.workers = sl_calloc(1, sizeof(*f->b.workers));
	f->w = &f->b.workers[0];
	ck_assert_int_eq(worker_init(f->w, &f->b, 0), 0);
	return f->w;
}

void
worker_fix_down(struct worker_fix *f)
{
	worker_stop(f->w, 0);
	uv_run(f->w->loop, UV_RUN_DEFAULT);
	worker_fini(f->w);
	sl_free(f->b.workers);
	topic_tree_free(f->b.shared);
	retain_free(f->b.retained);
	sl_free(f->b.listener_conns);
	pthread_mutex_destroy(&f->b.share_mu);
	conf_fini(&f->cf);
}
