/* broker/core/mount.c - listener mount points (mount.h). */
#include "broker/core/mount.h"
#include "broker/conf/conf.h"

#include <errno.h>
#include <string.h>

#include "broker/core/conn.h"
#include "broker/core/worker.h"
#include "proto/mqtt_topic.h"

static const char *
point(const struct conn *c)
{
	return worker_conf(c->w)->listeners[c->listener].mount_point;
}

int
mount_in(struct conn *c, struct sl_bytes *name)
{
	const char *mp = point(c);
	struct sl_buf *b = &c->w->mount_buf;
	struct sl_bytes group, filter = *name;
	size_t head = 0;

	if (mp == NULL)
		return 0;
	if (mqtt_topic_share_split(*name, &group, &filter) > 0) /* "$share/g/" stays first */
		head = (size_t)(filter.p - name->p);
	b->len = 0;
	if (sl_buf_append(b, name->p, head) < 0 || sl_buf_append(b, mp, strlen(mp)) < 0 ||
	    sl_buf_append(b, filter.p, filter.len) < 0)
		return -ENOMEM;
	*name = sl_bytes_make(b->data, (uint32_t)b->len);
	return 0;
}

bool
mount_out(const struct conn *c, struct sl_bytes *topic)
{
	const char *mp = point(c);
	size_t len;

	if (mp == NULL)
		return true;
	len = strlen(mp);
	if (topic->len <= len || memcmp(topic->p, mp, len) != 0)
		return false;
	*topic = sl_bytes_make(topic->p + len, (uint32_t)(topic->len - len));
	return true;
}
