/* broker/core/access.c - the broker's password file and ACL (broker/auth/auth.h): loaded at start,
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

#include "broker/conf/conf.h"
#include "broker/core/access.h"
#include "broker/core/broker.h"
#include "broker/core/sess.h"
#include "broker/core/worker.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

static struct auth *
load(const struct conf *cf, const char *pw, const char *acl)
{
	char *err = NULL;
	struct auth *a = auth_load(pw, acl, &err);

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

/* The rules for clients of listener li: its own with per_listener_settings, else the one set. */
static const struct auth *
auth_for(const struct broker *b, int li)
{
	if (li >= 0 && (uint32_t)li < b->n_lauth)
		return atomic_load_explicit(&b->lauth[li], memory_order_acquire);
	return atomic_load_explicit(&b->auth, memory_order_acquire);
}

/* The listener whose rules apply to s: the one its client last connected through (a session
 * restored from the store and not yet resumed: the first). */
static int
sess_listener(const struct sess *s)
{
	return s->ext != NULL ? s->ext->listener : 0;
}

int
access_init(struct broker *b)
{
	const struct conf *cf = broker_conf(b);
	struct auth *a = load(cf, cf->password_file, cf->acl_file);

	if (a == NULL)
		return -EINVAL;
	atomic_store_explicit(&b->auth, a, memory_order_release);
	if (!cf->per_listener_settings || cf->n_listeners == 0)
		return 0;
	if ((b->lauth = sl_calloc(cf->n_listeners, sizeof(*b->lauth))) == NULL)
		return -ENOMEM;
	b->n_lauth = (uint32_t)cf->n_listeners;
	for (size_t i = 0; i < cf->n_listeners; i++) {
		a = load(cf, cf->listeners[i].password_file, cf->listeners[i].acl_file);
		if (a == NULL)
			return -EINVAL;
		atomic_store_explicit(&b->lauth[i], a, memory_order_release);
	}
	return 0;
}

/* Loads one set of rules again and swaps it into *slot, keeping the replaced one until exit.
 * Returns 1 if the new one has an ACL, 0 if not, or a negative errno (nothing changed). */
static int
reload_one(struct broker *b, _Atomic(struct auth *) *slot, const char *pw, const char *acl)
{
	struct auth *a, **kept;

	if ((kept = sl_realloc(b->auth_old, (b->n_auth_old + 1) * sizeof(*kept))) == NULL) {
		LOG_ERR("auth", "reload failed, keeping the previous password file and ACL: %s",
		        "out of memory");
		return -ENOMEM;
	}
	b->auth_old = kept;
	if ((a = load(broker_conf(b), pw, acl)) == NULL) {
		LOG_ERR("auth", "reload failed, keeping the previous password file and ACL");
		return -EINVAL;
	}
	b->auth_old[b->n_auth_old++] = atomic_exchange_explicit(slot, a, memory_order_acq_rel);
	LOG_NOTICE("auth", "reloaded: password file %s, acl file %s, scram file %s", shown(pw),
	           shown(acl), shown(broker_conf(b)->scram_file));
	return auth_has_acl(a);
}

int
access_reload(struct broker *b)
{
	const struct conf *cf = broker_conf(b);
	struct mb_item *it;
	int rc, acl;

	rc = acl = reload_one(b, &b->auth, cf->password_file, cf->acl_file);
	for (uint32_t i = 0; i < b->n_lauth && i < cf->n_listeners; i++) {
		int r = reload_one(b, &b->lauth[i], cf->listeners[i].password_file,
		                   cf->listeners[i].acl_file);

		rc = r < 0 ? r : rc;
		acl |= r > 0;
	}
	/* Messages queued under the old rules are asked again (sess_recheck()). */
	for (uint32_t i = 0; i < b->n_workers && acl > 0; i++)
		if ((it = worker_item(MB_RECHECK)) != NULL)
			worker_post(&b->workers[i], it);
	return rc < 0 ? rc : 0;
}

void
access_fini(struct broker *b)
{
	size_t i;

	auth_free(atomic_exchange(&b->auth, NULL));
	for (i = 0; i < b->n_lauth; i++)
		auth_free(atomic_exchange(&b->lauth[i], NULL));
	sl_free(b->lauth);
	b->lauth = NULL;
	b->n_lauth = 0;
	for (i = 0; i < b->n_auth_old; i++)
		auth_free(b->auth_old[i]);
	sl_free(b->auth_old);
	b->auth_old = NULL;
	b->n_auth_old = 0;
}

bool
access_acl(const struct sess *s, struct sl_bytes topic, enum auth_access access)
{
	return auth_acl(auth_for(s->w->b, sess_listener(s)), s->client_id, s->username, topic,
	                access);
}

bool
access_same_user(const struct sess *s, const struct sl_bytes *user)
{
	/* A session whose user is not set yet (being made for this CONNECT) is anyone's; a
	 * restored one carries the user name the store recorded, so only that user resumes it. */
	if (!s->user_set)
		return true;
	if (user == NULL)
		return s->username == NULL;
	return s->username != NULL && strlen(s->username) == user->len &&
	       memcmp(s->username, user->p, user->len) == 0;
}

int
access_set_user(struct sess *s, const struct sl_bytes *user)
{
	char *u = NULL, *old;

	if (s->user_set && access_same_user(s, user))
		return 0;
	if (user != NULL && (u = sl_strndup((const char *)user->p, user->len)) == NULL)
		return -ENOMEM;
	/* Shared-group picks read it from other workers, under this lock. */
	pthread_mutex_lock(&s->w->b->share_mu);
	old = s->username;
	s->username = u;
	s->user_set = true;
	pthread_mutex_unlock(&s->w->b->share_mu);
	sl_free(old);
	return 0;
}

bool
access_scram_offered(struct worker *w, int listener, enum scram_mech m)
{
	return auth_scram_offered(auth_for(w->b, listener), m);
}

int
access_scram_cred(struct worker *w, int listener, const char *user, enum scram_mech m,
                  struct scram_cred *cred)
{
	return auth_scram_cred(auth_for(w->b, listener), user, m, cred);
}

uint8_t
access_connect(struct worker *w, int listener, const struct mqtt_connect *p, uint8_t *v3rc)
{
	const struct auth *a = auth_for(w->b, listener);
	const struct conf *cf = worker_conf(w);
	int8_t own = cf->per_listener_settings ? cf->listeners[listener].allow_anonymous : -1;
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
	if (own >= 0 ? own != 0 : cf->allow_anonymous) /* per_listener_settings: its own */
		return 0;
	*v3rc = p->has_username ? MQTT_V3_BAD_USERNAME_PASSWORD : MQTT_V3_NOT_AUTHORIZED;
	return p->has_username ? MQTT_RC_BAD_USERNAME_PASSWORD : MQTT_RC_NOT_AUTHORIZED;
}

const struct sl_bytes *
access_sender_user(const struct sess *s, struct sl_bytes *u)
{
	if (s->username == NULL)
		return NULL;
	*u = sl_bytes_make(s->username, (uint32_t)strlen(s->username));
	return u;
}

bool
access_retain_source(const struct sess *s, const struct sl_msg *msg)
{
	const struct worker *w = s->w;
	const struct auth *a = auth_for(w->b, sess_listener(s));
	char *id, *user = NULL;
	bool ok;

	if (!worker_conf(w)->check_retain_source || msg->sender_kind == SL_SENDER_UNKNOWN ||
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
