/* broker/core/sys.h - the $SYS topics: statistics published every sys_interval. */
#ifndef SYS_H
#define SYS_H

#include <stdint.h>

struct worker;

/* sys.c */
void sys_publish(struct worker *w, uint64_t now);

#endif
