/* broker/main.c - the starling executable. Its command line is Mosquitto's, so scripts and
 * service files written for mosquitto work unchanged. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/broker.h"
#include "broker/core/node.h"
#include "broker/core/owner.h"
#include "broker/core/persist.h"
#include "broker/core/worker.h"
#include "broker/index/retain.h"
#include "broker/index/topic.h"
#include "broker/transport/tls.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"
#include "storage/store.h"

struct args {
	const char *conf_path;
	int port;
	bool verbose;
	bool daemon;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "starling version %s\n\n"
	        "Usage: starling [-c config_file] [-d] [-h] [-p port] [-v]\n\n"
	        " -c : specify the broker config file (mosquitto.conf syntax).\n"
	        " -d : put the broker into the background after starting.\n"
	        " -h : display this help.\n"
	        " -p : start the broker listening on the specified port.\n"
	        "      Not recommended in conjunction with the -c option.\n"
	        " -v : verbose mode - enable all logging types.\n"
	        " --version : print the version and exit.\n",
	        SL_VERSION);
}

/* Returns 0 to run, 1 to exit with success (help/version), -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config-file") == 0) {
			if (++i >= argc)
				return -1;
			a->conf_path = argv[i];
		} else if (strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--port") == 0) {
			if (++i >= argc || (a->port = atoi(argv[i])) < 1 || a->port > 65535)
				return -1;
		} else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			a->verbose = true;
		} else if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--daemon") == 0) {
			a->daemon = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("starling version %s\n", SL_VERSION);
			return 1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* -p as mosquitto treats it: the port of the default listener, which listens on all
 * addresses when there is no config file and on loopback only otherwise... mosquitto 2.0
 * binds -p to localhost only when no config file is given; Starling follows it. */
static int
apply_port(struct conf *c, const struct args *a)
{
	if (a->port == 0)
		return 0;
	if (c->n_listeners == 0)
		return -1;
	c->listeners[0].port = (uint16_t)a->port;
	return 0;
}

static int
load_conf(struct conf *c, const struct args *a)
{
	char err[512];

	conf_init(c);
	if (a->conf_path != NULL) {
		if (conf_load(c, a->conf_path, err, sizeof(err)) < 0) {
			fprintf(stderr, "Error: %s\n", err);
			return -1;
		}
	} else if (conf_complete(c) < 0) {
		fprintf(stderr, "Error: out of memory\n");
		return -1;
	}
	if (apply_port(c, a) < 0) {
		fprintf(stderr, "Error: -p given but no listener to apply it to\n");
		return -1;
	}
	return 0;
}

static void
setup_logging(const struct conf *c, const struct args *a)
{
	unsigned mask = c->log_type_mask;

	if (a->verbose)
		mask = 0x1f;
	sl_log_set_mask(mask);
	if (c->log_dest == NULL || strcmp(c->log_dest, "stderr") == 0)
		return;
	if (strcmp(c->log_dest, "stdout") == 0)
		sl_log_set_dest("stdout");
	else if (strcmp(c->log_dest, "syslog") == 0)
		sl_log_set_dest("syslog");
	else if (strncmp(c->log_dest, "file ", 5) == 0 && sl_log_set_dest(c->log_dest + 5) < 0)
		fprintf(stderr, "Warning: cannot open log file '%s', logging to stderr\n",
		        c->log_dest + 5);
	else if (strcmp(c->log_dest, "none") == 0)
		sl_log_set_mask(0);
}

static void
write_pid(const struct conf *c)
{
	FILE *f;

	if (c->pid_file == NULL || (f = fopen(c->pid_file, "w")) == NULL)
		return;
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

static uint32_t
worker_count(const struct conf *c)
{
	if (c->worker_threads > 0)
		return (uint32_t)c->worker_threads;
	return uv_available_parallelism();
}

static int
broker_init(struct broker *b, struct conf *c)
{
	uint32_t i;

	memset(b, 0, sizeof(*b));
	atomic_init(&b->conf, c);
	b->started_ms = sl_now_ms();
	b->n_workers = worker_count(c);
	pthread_mutex_init(&b->share_mu, NULL);
	pthread_mutex_init(&b->activate_mu, NULL);
	if (access_init(b) < 0 || tls_init(&b->tls, broker_conf(b)) < 0)
		return -EINVAL;
	b->retained = retain_new();
	b->shared = topic_tree_new();
	if (b->retained == NULL || persist_open(b) < 0)
		return -1;
	if (b->n_workers > 1 && (b->owners = owner_new()) == NULL)
		return -ENOMEM;
	b->listener_conns = sl_calloc(c->n_listeners + 1, sizeof(*b->listener_conns));
	b->workers = sl_calloc(b->n_workers, sizeof(*b->workers));
	if (b->retained == NULL || b->shared == NULL || b->listener_conns == NULL ||
	    b->workers == NULL)
		return -ENOMEM;
	for (i = 0; i < b->n_workers; i++) {
		int rc = worker_init(&b->workers[i], b, i);

		if (rc < 0)
			return rc;
	}
	/* Worker 0 listens now; the others when placement first needs them (worker_activate). */
	if ((i = (uint32_t)worker_listen(&b->workers[0])) != 0)
		return (int)i;
	atomic_store(&b->workers[0].active, true);
	/* The cluster before the store's sessions: their subscriptions are routes to announce. */
	if ((i = (uint32_t)node_open(b)) != 0)
		return (int)i;
	return persist_load(b);
}

static void
broker_fini(struct broker *b)
{
	uint32_t i;

	for (i = 0; b->workers != NULL && i < b->n_workers; i++)
		if (b->workers[i].loop != NULL)
			worker_fini(&b->workers[i]);
	node_close(b); /* after the workers: their sessions' last route changes */
	sl_free(b->workers);
	owner_free(b->owners);
	store_close(b->store); /* after the workers: it flushes what they wrote */
	topic_tree_free(b->shared);
	retain_free(b->retained);
	sl_free(b->listener_conns);
	access_fini(b);
	tls_fini(b->tls); /* after the workers: their connections held references */
	pthread_mutex_destroy(&b->share_mu);
	pthread_mutex_destroy(&b->activate_mu);
	broker_conf_fini(b); /* last: the others may still read it */
}

/* Worker 0 runs on the main thread (it catches the signals); the others on their own. */
static int
run(struct conf *c)
{
	struct broker b;
	uint32_t i, started = 1;
	int rc;

	if (broker_init(&b, c) < 0) {
		for (i = 0; b.workers != NULL && i < b.n_workers; i++)
			if (b.workers[i].loop != NULL)
				worker_stop(&b.workers[i], 1);
		broker_fini(&b);
		return 1;
	}
	/* hash placement spreads from the first client: every worker now. pack: those that
	 * hold restored sessions (placed by hash at load); the others on demand. */
	for (i = 1; i < b.n_workers; i++)
		if ((strcmp(c->worker_placement, "hash") == 0 || b.workers[i].n_sess > 0) &&
		    worker_activate(&b, i) == 0)
			started++;
	/* Once the workers are set up: the cluster's thread may post to them at once. A node that
	 * cannot join its cluster must not serve alone: it stops as it would on SIGTERM. */
	if (node_start(&b) < 0)
		worker_stop(&b.workers[0], 1);
	else
		LOG_NOTICE("main", "starling version %s running, %u of %u worker loops started",
		           SL_VERSION, started, b.n_workers);
	uv_run(b.workers[0].loop, UV_RUN_DEFAULT);
	/* b.stopping is set (worker_stop_all): no worker starts any more. */
	pthread_mutex_lock(&b.activate_mu);
	pthread_mutex_unlock(&b.activate_mu);
	for (i = 1; i < b.n_workers; i++) {
		if (atomic_load(&b.workers[i].active))
			uv_thread_join(&b.workers[i].thread);
		else
			worker_stop(&b.workers[i], 0); /* never ran: its handles close in fini */
	}
	rc = b.workers[0].exit_code;
	broker_fini(&b);
	LOG_NOTICE("main", "starling version %s terminating", SL_VERSION);
	return rc;
}

int
main(int argc, char **argv)
{
	struct args a;
	struct conf c;
	int rc = parse_args(argc, argv, &a);

	if (rc != 0) {
		if (rc < 0)
			usage(stderr);
		return rc < 0 ? 1 : 0;
	}
	if (load_conf(&c, &a) < 0) {
		conf_fini(&c);
		return 1;
	}
	setup_logging(&c, &a);
	signal(SIGPIPE, SIG_IGN);
	if (a.daemon && daemon(1, 0) < 0) {
		fprintf(stderr, "Error: cannot daemonize: %s\n", strerror(errno));
		conf_fini(&c);
		return 1;
	}
	write_pid(&c);
	rc = run(&c);
	conf_fini(&c);
	return rc;
}
