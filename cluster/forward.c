/* cluster/forward.c - publishes between nodes (CLUSTER.md section 7). The node that received a
 * PUBLISH matches it once and queues one Forward per destination node; a peer's queue keeps
 * every Forward until that peer acknowledges it (cumulative ForwardAck by seq), so a link
 * that breaks and comes back resends what was not acknowledged, and the receiver, which
 * remembers the highest seq it handled per sender boot, drops what it already has. QoS 0 is
 * not resent after a link breaks. Shared groups: this node picks one node per group; a node
 * without a usable member answers NO_MEMBER and another is picked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cl.h"
#include "proto/base/sl_alloc.h"
#include "proto/base/sl_log.h"

static void
fwd_free(struct cl_fwd *f)
{
	sl_msg_unref(f->msg);
	sl_free(f->group);
	sl_free(f);
}

static uint64_t
fwd_bytes(const struct cl_fwd *f)
{
	return sizeof(*f) + f->msg->topic.len + f->msg->payload.len + f->msg->props.len;
}

/* Drops the oldest Forward of p's queue (over a bound). */
static void
drop_head(struct cl_peer *p)
{
	struct cl_fwd *f = p->q_head;

	p->q_head = f->next;
	if (p->q_tail == f)
		p->q_tail = NULL;
	if (p->unsent == f)
		p->unsent = f->next;
	p->q_bytes -= fwd_bytes(f);
	p->q_len--;
	p->cl->st.forward_dropped++;
	fwd_free(f);
}

static void
encode(struct cl_peer *p, struct cl_fwd *f)
{
	struct sl_msg *m = f->msg;
	struct clw_fwd fw = {0};
	bool expired = false;

	fw.seq = f->seq;
	fw.topic = m->topic;
	fw.qos = m->qos;
	fw.retain = m->retain;
	fw.sender = m->sender;
	fw.sender_kind = m->sender_kind;
	fw.sender_user = m->sender_user;
	if (m->expiry_at_ms != 0) { /* the clock only when it matters: a syscall per message */
		fw.expiry_left = sl_msg_expiry_left(m, sl_now_ms(), &expired);
		if (fw.expiry_left == 0)
			fw.expiry_left = 1;
	}
	fw.payload_format = m->payload_format;
	fw.props = m->props;
	if (f->group != NULL) {
		fw.shared = true;
		fw.group = sl_bytes_make(f->group, f->glen);
		fw.filter = sl_bytes_make(f->group + f->glen, f->flen);
	}
	if (cl_link_send_fwd(p->link, &fw, m->payload) == 0) {
		p->cl->st.forwards_out++;
		if (f->sent)
			p->cl->st.forward_resent++;
		f->sent = true;
	}
}

static void
enqueue(struct cl_peer *p, struct sl_msg *msg, const struct rtable_shared *sh, uint64_t tried)
{
	struct cluster *cl = p->cl;
	struct cl_fwd *f;

	if (msg->qos == 0 && sh == NULL) {
		struct cl_link *l = p->link;
		if (l == NULL) {
			cl->st.forward_dropped++; /* QoS 0 to an unreachable node: best effort, gone
			                           */
			return;
		}
		/* Nothing queued before it and room on the link: written now, never queued (QoS 0
		 * is not resent, so nothing would wait for its acknowledgement). */
		if (p->unsent == NULL && !l->closing &&
		    l->inflight + l->tx.len < CL_LINK_INFLIGHT_MAX) {
			struct cl_fwd now = {.seq = p->next_seq++, .msg = msg};
			encode(p, &now);
			return;
		}
	}
	if ((f = sl_calloc(1, sizeof(*f))) == NULL)
		goto fail;
	if (sh != NULL) {
		if ((f->group = sl_malloc(sh->group.len + sh->filter.len)) == NULL)
			goto fail;
		memcpy(f->group, sh->group.p, sh->group.len);
		memcpy(f->group + sh->group.len, sh->filter.p, sh->filter.len);
		f->glen = sh->group.len;
		f->flen = sh->filter.len;
	}
	f->msg = sl_msg_ref(msg);
	f->seq = p->next_seq++;
	f->enq_ms = cl_now_ms(cl);
	f->tried = tried;
	if (p->q_tail != NULL)
		p->q_tail->next = f;
	else
		p->q_head = f;
	p->q_tail = f;
	if (p->unsent == NULL)
		p->unsent = f;
	p->q_bytes += fwd_bytes(f);
	p->q_len++;
	while (p->q_bytes > cl->conf.buffer_bytes && p->q_head != f)
		drop_head(p);
	return;
fail:
	if (f != NULL)
		sl_free(f);
	cl->st.forward_dropped++;
}

/* One slot of cand (bit 0: this node), in turn. */
static uint8_t
rr_pick(struct cluster *cl, uint64_t cand)
{
	uint32_t k = cl->rr++ % (uint32_t)__builtin_popcountll(cand);

	for (uint8_t s = 0;; s++)
		if ((cand >> s & 1) && k-- == 0)
			return s;
}

/* Of cand, this node (bit 0) and the peers that are reachable. */
static uint64_t
usable(struct cluster *cl, uint64_t cand)
{
	uint64_t u = cand & 1;

	for (uint8_t s = 1; s < RTABLE_MAX_ORIGINS; s++)
		if ((cand >> s & 1) && cl->peers[s] != NULL && cl->peers[s]->link != NULL)
			u |= 1ull << s;
	return u;
}

/* One node for shared group sh, none of `tried`, by policy: local_first takes this node when
 * it has a member that can take msg, then the others in turn; round_robin takes them all in
 * turn, this one included. A node whose member turns out not to be usable answers NO_MEMBER
 * and the next is tried (repick()). With no node reachable a QoS 1/2 message waits in the
 * queue of an unreachable one. Returns true when the message went somewhere. */
static bool
pick_shared(struct cluster *cl, struct sl_msg *msg, const struct rtable_shared *sh, uint64_t tried)
{
	uint64_t cand = sh->origins & ~tried, u = usable(cl, cand);
	uint8_t s;

	if (cl->conf.shared_policy == CLUSTER_SHARED_LOCAL_FIRST && (u & 1)) {
		if (cl->ops.deliver_shared(cl->ops.arg, msg, sh->group, sh->filter) == 0)
			return true;
		u &= ~1ull;
		tried |= 1;
	}
	while (u != 0) {
		if ((s = rr_pick(cl, u)) != RTABLE_SELF) {
			enqueue(cl->peers[s], msg, sh, tried);
			return true;
		}
		if (cl->ops.deliver_shared(cl->ops.arg, msg, sh->group, sh->filter) == 0)
			return true;
		u &= ~1ull;
		tried |= 1;
	}
	cand &= ~(tried | 1ull);
	for (s = 1; msg->qos > 0 && s < RTABLE_MAX_ORIGINS; s++)
		if ((cand >> s & 1) && cl->peers[s] != NULL) {
			enqueue(cl->peers[s], msg, sh, tried); /* sent when it is back */
			return true;
		}
	return false;
}

struct out_ctx {
	struct cluster *cl;
	struct sl_msg *msg;
	/* re-pick: only this group and filter, not tried yet */
	const uint8_t *group;
	uint32_t glen, flen;
	uint64_t tried;
	bool done;
};

static void
on_shared(void *arg, const struct rtable_shared *sh)
{
	struct out_ctx *x = arg;

	if (x->group != NULL) {
		if (x->done || sh->group.len != x->glen || sh->filter.len != x->flen ||
		    memcmp(sh->group.p, x->group, x->glen) != 0 ||
		    memcmp(sh->filter.p, x->group + x->glen, x->flen) != 0)
			return;
		x->done = pick_shared(x->cl, x->msg, sh, x->tried);
		return;
	}
	if (!pick_shared(x->cl, x->msg, sh, 0))
		x->cl->st.forward_dropped++;
}

void
cl_fwd_out(struct cluster *cl, struct sl_msg *msg)
{
	struct out_ctx x = {cl, msg, NULL, 0, 0, 0, false};
	uint64_t nodes = rtable_match(cl->rt, msg->topic, on_shared, &x) & ~1ull;

	for (; nodes != 0; nodes &= nodes - 1) { /* set bits only: this runs per message */
		int i = __builtin_ctzll(nodes);
		if (cl->peers[i] != NULL)
			enqueue(cl->peers[i], msg, NULL, 0);
	}
}

/* A shared Forward p did not take: another node, or dropped when none is left. */
static void
repick(struct cl_peer *p, struct cl_fwd *f)
{
	struct cluster *cl = p->cl;
	struct out_ctx x = {cl,   f->msg, f->group, f->glen, f->flen, f->tried | 1ull << p->slot,
	                    false};

	cl->st.shared_repicked++;
	rtable_match(cl->rt, f->msg->topic, on_shared, &x);
	if (!x.done) {
		cl->st.forward_dropped++;
		LOG_DEBUG("cluster", "no node has a member of shared group '%.*s' left",
		          (int)f->glen, (const char *)f->group);
	}
	fwd_free(f);
}

void
cl_fwd_pump(struct cl_peer *p)
{
	struct cl_link *l = p->link;

	while (l != NULL && !l->closing && p->unsent != NULL &&
	       l->inflight + l->tx.len < CL_LINK_INFLIGHT_MAX) {
		encode(p, p->unsent);
		p->unsent = p->unsent->next;
	}
}

void
cl_fwd_link_up(struct cl_peer *p)
{
	p->unsent = p->q_head; /* what was not acknowledged goes again; the peer drops dups */
	p->repicked = false;
}

/* Moves p's shared Forwards (all of them, or only the QoS 0 ones) out of its queue: re-picked
 * or dropped. */
static void
queue_filter(struct cl_peer *p, bool repick_shared)
{
	struct cl_fwd *f = p->q_head, *next, *keep = NULL, **tail = &keep;
	struct cl_fwd *moved = NULL, **mtail = &moved;

	p->q_tail = NULL;
	for (; f != NULL; f = next) {
		next = f->next;
		f->next = NULL;
		if ((f->group != NULL && repick_shared) || (f->group == NULL && f->msg->qos == 0)) {
			p->q_bytes -= fwd_bytes(f);
			p->q_len--;
			*mtail = f;
			mtail = &f->next;
			continue;
		}
		*tail = f;
		tail = &f->next;
		p->q_tail = f;
	}
	p->q_head = keep;
	p->unsent = keep;
	for (f = moved; f != NULL; f = next) {
		next = f->next;
		if (f->group != NULL) {
			repick(p, f);
		} else {
			if (!f->sent)
				p->cl->st.forward_dropped++;
			fwd_free(f);
		}
	}
}

void
cl_fwd_link_down(struct cl_peer *p, bool left)
{
	queue_filter(p, left);
	if (left)
		p->repicked = true;
}

void
cl_fwd_expire(struct cl_peer *p, uint64_t now_ms)
{
	struct cluster *cl = p->cl;

	if (p->link == NULL && !p->repicked &&
	    now_ms - p->down_since_ms >= cl->conf.unreachable_ms) {
		p->repicked = true;
		queue_filter(p, true);
	}
	while (p->q_head != NULL && now_ms - p->q_head->enq_ms > cl->conf.buffer_ms)
		drop_head(p);
}

void
cl_fwd_ack_in(struct cl_peer *p, const Starling__Cluster__V1__ForwardAck *a)
{
	struct cl_fwd *f;

	if (a->incarnation != p->incarnation)
		return; /* an answer from an earlier boot of the peer */
	while ((f = p->q_head) != NULL && f->seq <= a->upto_seq) {
		bool nacked = false;
		for (size_t i = 0; i < a->n_nacks && !nacked; i++)
			nacked = a->nacks[i]->seq == f->seq;
		p->q_head = f->next;
		if (p->q_tail == f)
			p->q_tail = NULL;
		if (p->unsent == f)
			p->unsent = f->next;
		p->q_bytes -= fwd_bytes(f);
		p->q_len--;
		f->next = NULL;
		if (nacked && f->group != NULL)
			repick(p, f);
		else
			fwd_free(f);
	}
}

static void
nack(struct cl_peer *p, uint64_t seq)
{
	Starling__Cluster__V1__Nack *n;

	if (p->n_nacks == p->cap_nacks) {
		uint32_t cap = p->cap_nacks ? p->cap_nacks * 2 : 16;
		Starling__Cluster__V1__Nack **v = sl_realloc(p->nacks, cap * sizeof(*v));
		if (v == NULL)
			return; /* style: taken as delivered; the member count said otherwise */
		p->nacks = v;
		p->cap_nacks = cap;
	}
	if ((n = sl_malloc(sizeof(*n))) == NULL)
		return;
	*n = (Starling__Cluster__V1__Nack)STARLING__CLUSTER__V1__NACK__INIT;
	n->seq = seq;
	n->reason = STARLING__CLUSTER__V1__NACK__REASON__NO_MEMBER;
	p->nacks[p->n_nacks++] = n;
}

static struct sl_msg *
msg_of(const struct clw_fwd *fw, struct sl_bytes payload)
{
	struct sl_msg *m;

	if (fw->sender_kind == SL_SENDER_USER || fw->sender_kind == SL_SENDER_ANON)
		m = sl_msg_new_from(fw->topic, fw->props, payload, fw->sender,
		                    fw->sender_kind == SL_SENDER_USER ? &fw->sender_user : NULL,
		                    (uint8_t)fw->qos, fw->retain);
	else
		m = sl_msg_new(fw->topic, fw->props, payload, fw->sender, (uint8_t)fw->qos,
		               fw->retain);
	if (m == NULL)
		return NULL;
	m->payload_format = (uint8_t)fw->payload_format;
	if (fw->expiry_left > 0)
		m->expiry_at_ms = sl_now_ms() + (uint64_t)fw->expiry_left * 1000u;
	return m;
}

void
cl_fwd_in(struct cl_peer *p, const struct clf_frame *f)
{
	struct cluster *cl = p->cl;
	struct clw_fwd fw;
	struct sl_msg *m;

	if (clw_fwd_parse(f->meta, &fw) < 0) {
		cl_link_close(p->link, clf_strerror(CLF_ERR_META));
		return;
	}
	p->ack_due = true;
	if (fw.seq <= p->in_seq || fw.qos > 2) {
		cl->st.forward_dup_dropped += fw.qos <= 2;
		return;
	}
	p->in_seq = fw.seq;
	cl->st.forwards_in++;
	if ((m = msg_of(&fw, f->tail)) == NULL)
		return; /* style: out of memory; the sender counts it as delivered */
	if (fw.shared) {
		if (cl->ops.deliver_shared(cl->ops.arg, m, fw.group, fw.filter) < 0)
			nack(p, fw.seq);
	} else {
		cl->ops.deliver(cl->ops.arg, m);
	}
	sl_msg_unref(m);
}

void
cl_fwd_send_acks(struct cl_peer *p)
{
	Starling__Cluster__V1__ForwardAck a = STARLING__CLUSTER__V1__FORWARD_ACK__INIT;

	if (!p->ack_due || p->link == NULL)
		return;
	a.upto_seq = p->in_seq;
	a.nacks = p->nacks;
	a.n_nacks = p->n_nacks;
	a.incarnation = p->cl->incarnation;
	cl_link_send(p->link, CLF_FORWARD_ACK, &a.base, NULL);
	for (uint32_t i = 0; i < p->n_nacks; i++)
		sl_free(p->nacks[i]);
	p->n_nacks = 0;
	p->ack_due = false;
}

void
cl_fwd_free_all(struct cl_peer *p)
{
	struct cl_fwd *f, *next;

	for (f = p->q_head; f != NULL; f = next) {
		next = f->next;
		fwd_free(f);
	}
	p->q_head = p->q_tail = p->unsent = NULL;
	for (uint32_t i = 0; i < p->n_nacks; i++)
		sl_free(p->nacks[i]);
	p->n_nacks = 0;
}
