/* proto/base/sl_log.h - leveled one-line logging to a sink. proto/ itself never logs; the
 * macros live here so every module shares one sink. Safe from any thread. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum sl_log_level { SL_LOG_ERR, SL_LOG_WARN, SL_LOG_NOTICE, SL_LOG_INFO, SL_LOG_DEBUG };

/* Bit mask of enabled levels (1 << level). Atomic: a reload (SIGHUP) sets it on one worker
 * while the others test it; relaxed, since it orders nothing else. */
extern atomic_uint sl_log_mask_; /* style: the log sink is one of the two allowed globals */

/* Any thread. */
void sl_log_set_mask(unsigned mask);
/* Where lines go: stderr by default; "stdout", "syslog" (facility daemon), or a file path
 * (appended). Returns 0 or -errno. Call before starting threads. */
int sl_log_set_dest(const char *dest);
void sl_log_write(enum sl_log_level lvl, const char *mod, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define SL_LOG_(lvl, mod, ...)                                                                     \
	do {                                                                                       \
		if (atomic_load_explicit(&sl_log_mask_, memory_order_relaxed) & (1u << (lvl)))     \
			sl_log_write((lvl), (mod), __VA_ARGS__);                                   \
	} while (0)
#define LOG_ERR(mod, ...) SL_LOG_(SL_LOG_ERR, mod, __VA_ARGS__)
#define LOG_WARN(mod, ...) SL_LOG_(SL_LOG_WARN, mod, __VA_ARGS__)
#define LOG_NOTICE(mod, ...) SL_LOG_(SL_LOG_NOTICE, mod, __VA_ARGS__)
#define LOG_INFO(mod, ...) SL_LOG_(SL_LOG_INFO, mod, __VA_ARGS__)
#define LOG_DEBUG(mod, ...) SL_LOG_(SL_LOG_DEBUG, mod, __VA_ARGS__)

#endif
