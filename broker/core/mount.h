/* broker/core/mount.h - a listener's mount_point (mosquitto.conf(5)): the clients of that listener
 * live in their own part of the topic tree. Every topic and filter they send is prefixed with
 * the mount point on the way in (PUBLISH, SUBSCRIBE, UNSUBSCRIBE, will), "$share/<group>/"
 * staying in front; every topic sent to them loses it on the way out, and a message outside
 * it never reaches them. A client's "#" therefore covers only its mount point. Everything here
 * runs on the connection's worker loop. */
#ifndef MOUNT_H
#define MOUNT_H

#include <stdbool.h>

#include "proto/base/sl_buf.h"

struct conn;

/* Puts c's mount point in front of *name (a topic name, or a filter with any "$share/g/"
 * prefix), in a buffer of c's worker valid until the next mount_in() there; *name is left as
 * it is when c's listener has no mount point. Returns 0 or -ENOMEM. */
int mount_in(struct conn *c, struct sl_bytes *name);
/* The topic as c sees it: *topic without c's mount point. Returns false when topic lies
 * outside it (not to be delivered to c). */
bool mount_out(const struct conn *c, struct sl_bytes *topic);

#endif
