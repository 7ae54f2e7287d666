/* broker/node_auth.c - the node's password file and ACL (broker/auth.h): loaded at start,
 * replaced whole on SIGHUP, asked on CONNECT, PUBLISH, SUBSCRIBE, for wills and for every
 * delivery.
 *
 * Sharing: b->auth points to an immutable struct auth that every worker reads without a lock
 * (an acquire load per check). A reload, on worker 0, builds a new one and swaps the pointer
 * (release). The old one cannot be freed then: another worker may be in the middle of a check
 * on it, and knowing when every worker is done would take a refcount bumped on every check
 * (contended cache line per delivery) or an RCU-like grace period. Replaced ones are kept
 * until shutdown instead: a few kilobytes per SIGHUP, and reloads are rare. */
#include <errno.h>
#include <string.h>

#include "broker/node.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

static struct auth *
load(const struct conf *cf)
{
	char *err = NULL;
	struct auth *a = auth_load(cf->password_file, cf->acl_file, &err);

	if (a != NULL &&
	    auth_load_scram(a, cf->scram_file, cf->scram_from_password_file, &err) < 0) {
		auth_free(a);
		a = NULL;
	}
	if (a == NULL)
		LOG_ERR("auth", "%s", err != NULL ? err : "out of memory");
	sl_free(err);
	return a;
}

static const char *
shown(const char *path)
{
	return path != NULL ? path : "(none)";
}

int
node_auth_init(struct broker *b)
{
	struct auth *a = load(node_broker_conf(b));

	if (a == NULL)
		return -EINVAL;
	atomic_store_explicit(&b->auth, a, memory_order_release);
	return 0;
}

int
node_auth_reload(struct broker *b)
{
	const struct conf *cf = node_broker_conf(b);
	struct auth *a, *old, **kept;
	struct mb_item *it;

	if ((kept = sl_realloc(b->auth_old, (b->n_auth_old + 1) * sizeof(*kept))) == NULL) {
		LOG_ERR("auth", "reload failed, keeping the previous password file and ACL: %s",
		        "out of memory");
		return -ENOMEM;
	}
	b->auth_old = kept;
	if ((a = load(cf)) == NULL) {
		LOG_ERR("auth", "reload failed, keeping the previous password file and ACL");
		return -EINVAL;
	}
	old = atomic_exchange_explicit(&b->auth, a, memory_order_acq_rel);
	b->auth_old[b->n_auth_old++] = old;
	/* Messages queued under the old rules are asked again (sess_recheck()). */
	for (uint32_t i = 0; i < b->n_workers && auth_has_acl(a); i++)
		if ((it = worker_item(MB_RECHECK)) != NULL)
			worker_post(&b->workers[i], it);
	LOG_NOTICE("auth", "reloaded: password file %s, acl file %s, scram file %s",
	           shown(cf->password_file), shown(cf->acl_file), shown(cf->scram_file));
	return 0;
}

void
node_auth_fini(struct broker *b)
{
	size_t i;

	auth_free(atomic_exchange(&b->auth, NULL));
	for (i = 0; i < b->n_auth_old; i++)
		auth_free(b->auth_old[i]);
	sl_free(b->auth_old);
	b->auth_old = NULL;
	b->n_auth_old = 0;
}

bool
node_acl(const struct sess *s, struct sl_bytes topic, enum auth_access access)
{
	const struct auth *a = atomic_load_explicit(&s->n->b->auth, memory_order_acquire);

	return auth_acl(a, s->client_id, s->username, topic, access);
}

bool
node_same_user(const struct sess *s, const struct sl_bytes *user)
{
	/* The store does not record user names: a restored session goes to whoever
	 * authenticates with its client id first. TODO(#security): store the user name. */
	if (!s->user_set)
		return true;
	if (user == NULL)
		return s->username == NULL;
	return s->username != NULL && strlen(s->username) == user->len &&
	       memcmp(s->username, user->p, user->len) == 0;
}

int
node_set_user(struct sess *s, const struct sl_bytes *user)
{
	char *u = NULL, *old;

	if (s->user_set && node_same_user(s, user))
		return 0;
	if (user != NULL && (u = sl_strndup((const char *)user->p, user->len)) == NULL)
		return -ENOMEM;
	/* Shared-group picks read it from other workers, under this lock. */
	pthread_mutex_lock(&s->n->b->share_mu);
	old = s->username;
	s->username = u;
	s->user_set = true;
	pthread_mutex_unlock(&s->n->b->share_mu);
	sl_free(old);
	return 0;
}

static const struct auth *
auth_of(const struct node *n)
{
	return atomic_load_explicit(&n->b->auth, memory_order_acquire);
}

bool
node_auth_scram_offered(struct node *n, enum scram_mech m)
{
	return auth_scram_offered(auth_of(n), m);
}

int
node_auth_scram_cred(struct node *n, const char *user, enum scram_mech m, struct scram_cred *cred)
{
	return auth_scram_cred(auth_of(n), user, m, cred);
}

uint8_t
node_auth_connect(struct node *n, const struct mqtt_connect *p, uint8_t *v3rc)
{
	const struct auth *a = atomic_load_explicit(&n->b->auth, memory_order_acquire);
	char *name;
	int rc;

	if (p->has_username && auth_has_passwords(a)) {
		/* A user name must be in the password file with its password, whatever
		 * allow_anonymous says (mosquitto). It holds no NUL: the decoder checked its
		 * UTF-8 [MQTT-1.5.4-2]. */
		name = sl_strndup((const char *)p->username.p, p->username.len);
		rc = name == NULL ? -ENOMEM
		                  : auth_password(a, name, p->has_password ? p->password.p : NULL,
		                                  p->password.len);
		sl_free(name);
		if (rc == 0)
			return 0;
		*v3rc = MQTT_V3_BAD_USERNAME_PASSWORD;
		return MQTT_RC_BAD_USERNAME_PASSWORD;
	}
	/* Without a user name, or without a password file: allow_anonymous decides (mosquitto
	 * takes a user name on trust when there is no password file to check it against). */
	if (node_conf(n)->allow_anonymous)
		return 0;
	*v3rc = p->has_username ? MQTT_V3_BAD_USERNAME_PASSWORD : MQTT_V3_NOT_AUTHORIZED;
	return p->has_username ? MQTT_RC_BAD_USERNAME_PASSWORD : MQTT_RC_NOT_AUTHORIZED;
}

const struct sl_bytes *
node_sender_user(const struct sess *s, struct sl_bytes *u)
{
	if (s->username == NULL)
		return NULL;
	*u = sl_bytes_make(s->username, (uint32_t)strlen(s->username));
	return u;
}

bool
node_acl_source(struct node *n, const struct sl_msg *msg)
{
	const struct auth *a = atomic_load_explicit(&n->b->auth, memory_order_acquire);
	char *id, *user = NULL;
	bool ok;

	if (!node_conf(n)->check_retain_source || msg->sender_kind == SL_SENDER_UNKNOWN ||
	    !auth_has_acl(a))
		return true;
	id = sl_strndup((const char *)msg->sender.p, msg->sender.len);
	if (msg->sender_kind == SL_SENDER_USER)
		user = sl_strndup((const char *)msg->sender_user.p, msg->sender_user.len);
	ok = id != NULL && (msg->sender_kind != SL_SENDER_USER || user != NULL) &&
	     auth_acl(a, id, user, msg->topic, AUTH_WRITE);
	sl_free(id);
	sl_free(user);
	return ok;
}
