#include "sl_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

atomic_uint sl_log_mask_ = (1u << SL_LOG_ERR) | (1u << SL_LOG_WARN) | (1u << SL_LOG_NOTICE);

/* style: the sink is process-wide by design (STYLE.md allows the log sink as a global). */
static FILE *sink;
static bool to_syslog;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"ERR", "WARN", "NOTICE", "INFO", "DEBUG"};

void
sl_log_set_mask(unsigned mask)
{
	atomic_store_explicit(&sl_log_mask_, mask, memory_order_relaxed);
}

int
sl_log_set_dest(const char *dest)
{
	FILE *f;

	if (strcmp(dest, "syslog") == 0) {
		openlog("starling", LOG_PID, LOG_DAEMON);
		to_syslog = true;
		return 0;
	}
	if (strcmp(dest, "stderr") == 0)
		f = stderr;
	else if (strcmp(dest, "stdout") == 0)
		f = stdout;
	else if ((f = fopen(dest, "a")) == NULL)
		return -errno;
	pthread_mutex_lock(&sink_lock);
	if (sink != NULL && sink != stderr && sink != stdout)
		fclose(sink);
	sink = f;
	pthread_mutex_unlock(&sink_lock);
	return 0;
}

void
sl_log_write(enum sl_log_level lvl, const char *mod, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld.%03ld %s %s: ", (long long)ts.tv_sec,
	             ts.tv_nsec / 1000000, level_names[lvl], mod);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (to_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

		syslog(prio[lvl], "%s", line);
		return;
	}
	pthread_mutex_lock(&sink_lock);
	fprintf(sink != NULL ? sink : stderr, "%s\n", line);
	fflush(sink != NULL ? sink : stderr);
	pthread_mutex_unlock(&sink_lock);
}
