/* tests/bench/mqttbench.c - single-threaded epoll MQTT 3.1.1 / 5.0 load generator for Starling.
 *
 * Scenarios: fanin (P publishers -> 1 subscriber on bench/#), shared (P publishers -> S
 * subscribers of $share/bench/bench/#, each message to one of them), pairs (P pub/sub pairs on
 * distinct topics), fanout (1 publisher -> S subscribers), idle (N connections held open,
 * reporting connect rate and the broker's RSS per connection), mixed (N connections: many
 * publishers at 1 msg/s each on site/<i>/sensor/<j>, a few wildcard subscribers that each get
 * every message: the load most users run). QoS 0, 1 and 2. Closed loop by default: each
 * publisher keeps at most WINDOW messages outstanding (sent, not yet received by every one of its
 * subscribers), so loopback buffers never fill. Each payload carries publisher id, sequence
 * number and a CLOCK_MONOTONIC timestamp. Ends with one "RESULT key=value ..." line on stdout.
 * Self-contained on purpose: it must also drive mosquitto, so it uses none of proto/.
 * style: one file over 800 lines, so compare.sh can build it with a bare `cc` on any machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_CLOSED 64   /* outstanding messages per publisher, closed loop */
#define WINDOW_OPEN 4096   /* cap per publisher in rate mode; over it a send is skipped */
#define HIST_US 1000000    /* latency histogram: 1 us bins up to 1 s */
#define PAYLOAD_MIN 20     /* u32 pub id + u64 seq + u64 ns timestamp */
#define CONNECTING_MAX 128 /* non-blocking connects in flight at once */
#define READ_FLOW 65536    /* bytes per recv() for publishers and subscribers */
#define READ_IDLE 512      /* idle connections only ever read a CONNACK */
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h; not exposed under _POSIX_C_SOURCE */
#endif

#define MIXED_SENSORS 10 /* mixed: publisher i is sensor i % 10 of site i / 10 */

enum scen { SC_FANIN, SC_SHARED, SC_PAIRS, SC_FANOUT, SC_IDLE, SC_MIXED, SC_COUNT };
static const char *const scen_names[] = {"fanin", "shared", "pairs", "fanout", "idle", "mixed"};
/* mixed: subscriber k takes filter k % 4; each matches every publisher's topic, in its own way */
static const char *const mixed_filters[] = {"site/#", "site/+/sensor/+", "site/+/sensor/#",
                                            "+/+/sensor/+"};
enum cstate { CS_CONNECTING, CS_CONNACK, CS_SUBACK, CS_READY, CS_DEAD };

struct buf {
	uint8_t *p;
	size_t off, len, cap; /* live bytes are p[off .. off+len) */
};

struct track {         /* one subscriber's view of one publisher */
	uint64_t next; /* next expected sequence number */
	uint64_t uniq; /* distinct sequence numbers received */
};

struct conn {
	int fd;
	int id; /* index among publishers or subscribers */
	bool is_pub;
	enum cstate st;
	struct buf in, out;
	uint16_t pid; /* last packet identifier used */
	/* publisher */
	uint64_t sent, done; /* sequence numbers sent; prefix fully delivered */
	uint32_t *ring;      /* deliveries per outstanding seq, indexed seq % window */
	char topic[64];
	/* subscriber */
	struct track *tr; /* indexed by publisher id */
};

static struct {
	const char *host;
	int port, sub_port, pubs, subs, qos, size, conns, broker_pid, src_ips, nstarted;
	double duration, warmup, rate, hold;
	enum scen sc;
	bool v5;
	bool persistent; /* subscribers keep their sessions (clean session 0 / expiry 1 h) */
	int ep;
	uint32_t window;
	struct conn *pub, *sub, *idle;
	int nready_needed, nready, nconnecting;
	uint64_t recv_win, recv_total, dup, skipped, pubacks;
	uint32_t *hist;
	uint64_t hist_over, max_ns;
	bool measuring;
} g = {
        .host = "127.0.0.1",
        .port = 1883,
        .pubs = 1,
        .subs = 1,
        .qos = 0,
        .size = 64,
        .conns = 1000,
        .duration = 5,
        .warmup = 1,
        .rate = 0,
        .sc = SC_FANIN,
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "mqttbench: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(2);
}

static void
buf_need(struct buf *b, size_t more)
{
	if (b->off + b->len + more <= b->cap)
		return;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	if (b->len + more > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + more)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			die("realloc");
		b->cap = cap;
	}
}

static uint8_t *
buf_tail(struct buf *b)
{
	return b->p + b->off + b->len;
}

static void
put_u16(struct buf *b, unsigned v)
{
	uint8_t *t = buf_tail(b);

	t[0] = (uint8_t)(v >> 8);
	t[1] = (uint8_t)v;
	b->len += 2;
}

static void
put_bytes(struct buf *b, const void *s, size_t n)
{
	memcpy(buf_tail(b), s, n);
	b->len += n;
}

/* Writes a fixed header: type byte and remaining length. */
static void
put_hdr(struct buf *b, uint8_t type, size_t rem)
{
	uint8_t *t;

	buf_need(b, 5 + rem);
	t = buf_tail(b);
	*t++ = type;
	b->len++;
	do {
		uint8_t d = rem & 0x7f;

		rem >>= 7;
		*t++ = (uint8_t)(d | (rem ? 0x80 : 0));
		b->len++;
	} while (rem);
}

static void
put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	put_u16(b, (unsigned)n);
	put_bytes(b, s, n);
}

static uint16_t
next_pid(struct conn *c)
{
	if (++c->pid == 0)
		c->pid = 1;
	return c->pid;
}

static void
want_out(struct conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};

	if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

static void
conn_dead(struct conn *c, const char *why)
{
	static unsigned ndead;

	if (c->st == CS_DEAD)
		return;
	if (++ndead <= 10) /* the first few say why; 10,000 lines would hide it */
		fprintf(stderr, "mqttbench: %s %d: %s%s\n", c->is_pub ? "pub" : "sub", c->id, why,
		        ndead == 10 ? " (further closes not shown)" : "");
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->st = CS_DEAD;
}

/* Sends what it can of c->out; arms EPOLLOUT if bytes remain. */
static void
flush(struct conn *c)
{
	bool had = c->out.len > 0;

	while (c->out.len > 0 && c->st != CS_CONNECTING && c->st != CS_DEAD) {
		ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				want_out(c, true);
				return;
			}
			conn_dead(c, strerror(errno));
			return;
		}
		c->out.off += (size_t)n;
		c->out.len -= (size_t)n;
	}
	if (c->out.len == 0)
		c->out.off = 0;
	if (had && c->out.len == 0 && c->st != CS_DEAD)
		want_out(c, false);
}

static void
send_connect(struct conn *c)
{
	char cid[48];
	bool keep = g.persistent && !c->is_pub;

	snprintf(cid, sizeof(cid), "mb%d-%c%d", (int)getpid(), c->is_pub ? 'p' : 's', c->id);
	put_hdr(&c->out, 0x10, 10 + (g.v5 ? (keep ? 6 : 1) : 0) + 2 + strlen(cid));
	put_str(&c->out, "MQTT");
	put_bytes(&c->out, g.v5 ? "\x05" : "\x04", 1);
	/* A fresh session either way; a persistent one outlives the connection (and is what
	 * a durable store must write for every message). */
	put_bytes(&c->out, keep && !g.v5 ? "\x00" : "\x02", 1);
	put_u16(&c->out, 60);
	if (g.v5 && keep)
		put_bytes(&c->out, "\x05\x11\x00\x00\x0e\x10", 6); /* session expiry 3600 s */
	else if (g.v5)
		put_bytes(&c->out, "", 1); /* no properties: session expiry 0 */
	put_str(&c->out, cid);
}

static void
send_subscribe(struct conn *c)
{
	char topic[64];

	if (g.sc == SC_FANIN)
		snprintf(topic, sizeof(topic), "bench/#");
	else if (g.sc == SC_SHARED)
		snprintf(topic, sizeof(topic), "$share/bench/bench/#");
	else if (g.sc == SC_PAIRS)
		snprintf(topic, sizeof(topic), "bench/pair/%d", c->id);
	else if (g.sc == SC_MIXED)
		snprintf(topic, sizeof(topic), "%s", mixed_filters[c->id % 4]);
	else
		snprintf(topic, sizeof(topic), "bench/fan");
	put_hdr(&c->out, 0x82, 2 + g.v5 + 2 + strlen(topic) + 1);
	put_u16(&c->out, next_pid(c));
	if (g.v5)
		put_bytes(&c->out, "", 1); /* no properties */
	put_str(&c->out, topic);
	*buf_tail(&c->out) = (uint8_t)g.qos;
	c->out.len++;
}

static void
wr64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Queues one PUBLISH from publisher c; flushing is left to the caller. */
static void
publish(struct conn *c)
{
	size_t tl = strlen(c->topic);
	uint8_t *p;

	put_hdr(&c->out, (uint8_t)(0x30 | g.qos << 1),
	        2 + tl + (g.qos ? 2 : 0) + g.v5 + (size_t)g.size);
	put_str(&c->out, c->topic);
	if (g.qos)
		put_u16(&c->out, next_pid(c));
	if (g.v5)
		put_bytes(&c->out, "", 1); /* no properties */
	p = buf_tail(&c->out);
	memset(p, 0, (size_t)g.size);
	p[0] = (uint8_t)(c->id >> 24);
	p[1] = (uint8_t)(c->id >> 16);
	p[2] = (uint8_t)(c->id >> 8);
	p[3] = (uint8_t)c->id;
	wr64(p + 4, c->sent);
	wr64(p + 12, now_ns());
	c->out.len += (size_t)g.size;
	c->ring[c->sent % g.window] = 0;
	c->sent++;
}

static int
expected_subs(void)
{
	return g.sc == SC_FANOUT || g.sc == SC_MIXED ? g.subs : 1;
}

/* Marks seq of publisher p delivered once more; slides its window. */
static void
delivered(struct conn *p, uint64_t seq)
{
	if (seq < p->done || seq >= p->sent)
		return;
	p->ring[seq % g.window]++;
	while (p->done < p->sent && p->ring[p->done % g.window] >= (uint32_t)expected_subs())
		p->done++;
}

static void
on_message(struct conn *s, const uint8_t *pl, size_t n)
{
	uint64_t t = now_ns(), seq, ts;
	uint32_t pub;
	struct track *tr;

	if (n < PAYLOAD_MIN)
		return;
	pub = (uint32_t)pl[0] << 24 | (uint32_t)pl[1] << 16 | (uint32_t)pl[2] << 8 | pl[3];
	seq = rd64(pl + 4);
	ts = rd64(pl + 12);
	if (pub >= (uint32_t)g.pubs)
		return;
	g.recv_total++;
	tr = &s->tr[pub];
	if (seq < tr->next || (g.sc == SC_SHARED && seq < g.pub[pub].done)) {
		g.dup++; /* shared: seq < done means another member already had it */
		return;
	}
	/* TCP keeps order, so skipped sequence numbers will never come: count them as done.
	 * Not in a shared group, where the numbers this member skips went to another member. */
	for (uint64_t k = tr->next; g.sc != SC_SHARED && k < seq; k++)
		delivered(&g.pub[pub], k);
	tr->next = seq + 1;
	tr->uniq++;
	delivered(&g.pub[pub], seq);
	if (g.measuring) {
		uint64_t d = t - ts, us = d / 1000;

		g.recv_win++;
		if (us < HIST_US)
			g.hist[us]++;
		else
			g.hist_over++;
		if (d > g.max_ns)
			g.max_ns = d;
	}
}

/* Reads a variable byte integer at p[*i] (bounded by n) into *v. Returns false if cut. */
static bool
get_varint(const uint8_t *p, size_t n, size_t *i, size_t *v)
{
	unsigned shift = 0;

	*v = 0;
	do {
		if (*i >= n || shift > 21)
			return false;
		*v |= (size_t)(p[*i] & 0x7f) << shift;
		shift += 7;
	} while (p[(*i)++] & 0x80);
	return true;
}

/* Queues a two-byte-id ack (PUBACK 0x40, PUBREC 0x50, PUBREL 0x62, PUBCOMP 0x70); in v5 the
 * reason code and properties are omitted, which means Success (MQTT 5.0 section 3.4.2.1). */
static void
put_ack(struct conn *c, uint8_t type, const uint8_t *pid)
{
	put_hdr(&c->out, type, 2);
	put_bytes(&c->out, pid, 2);
}

/* An incoming PUBLISH p[0..n): acks it as its QoS asks and hands over the payload. */
static void
on_publish(struct conn *c, uint8_t type, const uint8_t *p, size_t n)
{
	unsigned qos = (type >> 1) & 3;
	size_t tl, h, props = 0;

	if (n < 2)
		return;
	tl = (size_t)p[0] << 8 | p[1];
	h = 2 + tl + (qos ? 2 : 0);
	if (h > n || (g.v5 && (!get_varint(p, n, &h, &props) || (h += props) > n)))
		return;
	if (qos)
		put_ack(c, qos == 1 ? 0x40 : 0x50, p + 2 + tl);
	/* QoS 2 counts on first receipt; a resent copy would show up in dup. */
	on_message(c, p + h, n - h);
}

/* Handles one complete packet p[0..n) whose first byte is type. */
static void
on_packet(struct conn *c, uint8_t type, const uint8_t *p, size_t n)
{
	size_t i = 2, props = 0;

	switch (type >> 4) {
	case 2: /* CONNACK */
		if (n < 2 || p[1] != 0) {
			conn_dead(c, "CONNACK refused");
			return;
		}
		if (c->is_pub || g.sc == SC_IDLE) {
			c->st = CS_READY;
			g.nready++;
		} else {
			c->st = CS_SUBACK;
			send_subscribe(c);
		}
		break;
	case 9: /* SUBACK: pid, [v5 properties], one reason code; >= 0x80 is a failure */
		if (g.v5 && (!get_varint(p, n, &i, &props) || (i += props) > n))
			i = n;
		if (i >= n || p[i] >= 0x80) {
			conn_dead(c, "SUBACK refused");
			return;
		}
		c->st = CS_READY;
		g.nready++;
		break;
	case 3: /* PUBLISH */
		on_publish(c, type, p, n);
		break;
	case 4: /* PUBACK */
	case 7: /* PUBCOMP */
		g.pubacks++;
		break;
	case 5: /* PUBREC: release it */
		if (n >= 2)
			put_ack(c, 0x62, p);
		break;
	case 6: /* PUBREL: complete it */
		if (n >= 2)
			put_ack(c, 0x70, p);
		break;
	default:
		break;
	}
}

static void
on_readable(struct conn *c)
{
	size_t chunk = g.sc == SC_IDLE ? READ_IDLE : READ_FLOW;

	for (;;) {
		ssize_t r;

		buf_need(&c->in, chunk);
		r = recv(c->fd, buf_tail(&c->in), c->in.cap - c->in.off - c->in.len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_dead(c, strerror(errno));
			break;
		}
		if (r == 0) {
			conn_dead(c, "closed by broker");
			break;
		}
		c->in.len += (size_t)r;
		for (;;) { /* parse every complete packet */
			const uint8_t *p = c->in.p + c->in.off;
			size_t rem = 0, i = 1;
			unsigned shift = 0;

			for (;;) {
				if (i >= c->in.len)
					goto need_more;
				rem |= (size_t)(p[i] & 0x7f) << shift;
				shift += 7;
				if (!(p[i++] & 0x80))
					break;
				if (i > 4) {
					conn_dead(c, "bad remaining length");
					return;
				}
			}
			if (c->in.len < i + rem)
				goto need_more;
			on_packet(c, p[0], p + i, rem);
			if (c->st == CS_DEAD)
				return;
			c->in.off += i + rem;
			c->in.len -= i + rem;
		}
	need_more:
		if (c->in.len == 0)
			c->in.off = 0;
		if ((size_t)r < chunk)
			break;
	}
	flush(c);
}

static void
on_writable(struct conn *c)
{
	if (c->st == CS_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		g.nconnecting--;
		if (err) {
			conn_dead(c, strerror(err));
			return;
		}
		c->st = CS_CONNACK;
		send_connect(c);
	}
	flush(c);
}

/* --src-ips N: the k-th connection leaves from 127.0.0.(1 + k % N), so one load generator
 * is not capped by one address's ephemeral ports (about 28,000 by default). The port is picked
 * at connect() (IP_BIND_ADDRESS_NO_PORT), per destination, not reserved by bind(). */
static void
bind_source(int fd)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	int one = 1;

	if (g.src_ips <= 0)
		return;
	src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(g.nstarted % g.src_ips));
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		die("bind source address");
}

static void
start_connect(struct conn *c)
{
	/* --sub-port: subscribers on another broker (a cluster node, a bridged broker) */
	int port = !c->is_pub && g.sub_port && g.sc != SC_IDLE ? g.sub_port : g.port;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	int one = 1;

	if (inet_pton(AF_INET, g.host, &sa.sin_addr) != 1) {
		errno = EINVAL;
		die("--host must be an IPv4 address");
	}
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bind_source(c->fd);
	g.nstarted++;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect");
	c->st = CS_CONNECTING;
	g.nconnecting++;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

/* Runs the loop once, waiting at most ms. */
static void
poll_once(int ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(g.ep, evs, 256, ms);

	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (c->st == CS_DEAD)
			continue;
		if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_writable(c);
		if (c->st != CS_DEAD && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			on_readable(c);
	}
}

/* Opens conns[0..n), at most CONNECTING_MAX at a time, until all are READY or timeout. */
static int
connect_all(struct conn *cs, int n, double timeout_s)
{
	uint64_t end = now_ns() + (uint64_t)(timeout_s * 1e9);
	int next = 0, target = g.nready + n;

	while (g.nready < target) {
		while (next < n && g.nconnecting < CONNECTING_MAX)
			start_connect(&cs[next++]);
		if (now_ns() > end)
			return -1;
		poll_once(10);
		for (int i = 0; i < next; i++)
			if (cs[i].st == CS_DEAD)
				return -1;
	}
	return 0;
}

static double
cpu_s(int pid)
{
	char path[64], line[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return 0;
	/* after ")": state(3) ... utime is field 14, stime 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long
rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static uint64_t
pct_us(double q)
{
	uint64_t want = (uint64_t)(q * (double)g.recv_win), acc = 0;

	if (g.recv_win == 0)
		return 0;
	if (want >= g.recv_win)
		want = g.recv_win - 1;
	for (uint64_t i = 0; i < HIST_US; i++) {
		acc += g.hist[i];
		if (acc > want)
			return i;
	}
	return g.max_ns / 1000;
}

/* Raises the soft descriptor limit to the hard one; fails early if need descriptors do not
 * fit, rather than after a 30 s connect timeout. */
static void
raise_nofile(int need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("setrlimit");
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need > rl.rlim_cur) {
		fprintf(stderr, "mqttbench: %d connections need %d descriptors, limit is %llu\n",
		        need - 16, need, (unsigned long long)rl.rlim_cur);
		exit(2);
	}
}

static int
run_idle(void)
{
	long before, after;
	uint64_t t0, t1;

	g.idle = calloc((size_t)g.conns, sizeof(*g.idle));
	if (g.idle == NULL)
		die("calloc");
	for (int i = 0; i < g.conns; i++)
		g.idle[i].id = i;
	before = rss_kb(g.broker_pid);
	t0 = now_ns();
	if (connect_all(g.idle, g.conns, 30) < 0) {
		fprintf(stderr, "mqttbench: idle: only %d of %d connected\n", g.nready, g.conns);
		return 1;
	}
	t1 = now_ns();
	for (uint64_t end = now_ns() + 1000000000u; now_ns() < end;)
		poll_once(50); /* let the broker settle */
	after = rss_kb(g.broker_pid);
	printf("RESULT scenario=idle conns=%d connect_per_s=%.0f rss_before_kb=%ld "
	       "rss_after_kb=%ld bytes_per_conn=%.0f\n",
	       g.conns, g.conns / ((double)(t1 - t0) / 1e9), before, after,
	       before >= 0 && after >= 0 ? (double)(after - before) * 1024.0 / g.conns : -1.0);
	fflush(stdout);
	for (uint64_t end = now_ns() + (uint64_t)(g.hold * 1e9); now_ns() < end;)
		poll_once(100); /* --hold: keep them open for a look at the broker */
	return 0;
}

static void
fill_publishers(uint64_t t_start, uint64_t now)
{
	if (g.rate <= 0) {
		for (int i = 0; i < g.pubs; i++) {
			struct conn *c = &g.pub[i];

			if (c->st != CS_READY)
				continue;
			while (c->sent - c->done < g.window)
				publish(c);
			flush(c);
		}
		return;
	}
	/* open loop: total due so far, spread round robin */
	static uint64_t issued;
	static int rr;
	uint64_t due = (uint64_t)(g.rate * (double)(now - t_start) / 1e9);

	while (issued < due) {
		struct conn *c = &g.pub[rr];

		rr = (rr + 1) % g.pubs;
		issued++;
		if (c->st != CS_READY || c->sent - c->done >= g.window) {
			g.skipped++;
			continue;
		}
		publish(c);
	}
	for (int i = 0; i < g.pubs; i++)
		if (g.pub[i].out.len)
			flush(&g.pub[i]);
}

static int
run_flow(void)
{
	uint64_t t0, t_meas, t_end, t_drain, sent = 0, uniq = 0, expect = 0, lost;
	double cpu0 = 0, cpu1 = 0, secs;

	g.window = g.rate > 0 ? WINDOW_OPEN : WINDOW_CLOSED;
	g.pub = calloc((size_t)g.pubs, sizeof(*g.pub));
	g.sub = calloc((size_t)g.subs, sizeof(*g.sub));
	g.hist = calloc(HIST_US, sizeof(*g.hist));
	if (!g.pub || !g.sub || !g.hist)
		die("calloc");
	for (int i = 0; i < g.subs; i++) {
		g.sub[i].id = i;
		if ((g.sub[i].tr = calloc((size_t)g.pubs, sizeof(struct track))) == NULL)
			die("calloc");
	}
	for (int i = 0; i < g.pubs; i++) {
		struct conn *c = &g.pub[i];

		c->id = i;
		c->is_pub = true;
		if ((c->ring = calloc(g.window, sizeof(*c->ring))) == NULL)
			die("calloc");
		if (g.sc == SC_FANIN || g.sc == SC_SHARED)
			snprintf(c->topic, sizeof(c->topic), "bench/in/%d", i);
		else if (g.sc == SC_PAIRS)
			snprintf(c->topic, sizeof(c->topic), "bench/pair/%d", i);
		else if (g.sc == SC_MIXED)
			snprintf(c->topic, sizeof(c->topic), "site/%d/sensor/%d", i / MIXED_SENSORS,
			         i % MIXED_SENSORS);
		else
			snprintf(c->topic, sizeof(c->topic), "bench/fan");
	}
	if (connect_all(g.sub, g.subs, 30) < 0 || connect_all(g.pub, g.pubs, 30) < 0) {
		fprintf(stderr, "mqttbench: setup failed (%d ready)\n", g.nready);
		return 1;
	}
	t0 = now_ns();
	t_meas = t0 + (uint64_t)(g.warmup * 1e9);
	t_end = t_meas + (uint64_t)(g.duration * 1e9);
	for (uint64_t now = t0; now < t_end; now = now_ns()) {
		if (!g.measuring && now >= t_meas) {
			g.measuring = true;
			cpu0 = cpu_s(g.broker_pid);
			t_meas = now;
		}
		fill_publishers(t0, now);
		poll_once(g.rate > 0 ? 1 : 5);
	}
	g.measuring = false;
	cpu1 = cpu_s(g.broker_pid);
	secs = (double)(now_ns() - t_meas) / 1e9;
	/* drain: stop publishing, wait up to 3 s for what is outstanding */
	t_drain = now_ns() + 3000000000u;
	for (;;) {
		bool pending = false;

		for (int i = 0; i < g.pubs; i++)
			if (g.pub[i].st == CS_READY && g.pub[i].done < g.pub[i].sent)
				pending = true;
		if (!pending || now_ns() > t_drain)
			break;
		poll_once(10);
	}
	for (int i = 0; i < g.pubs; i++)
		sent += g.pub[i].sent;
	for (int s = 0; s < g.subs; s++)
		for (int p = 0; p < g.pubs; p++) {
			if (g.sc == SC_PAIRS && p != s)
				continue;
			uniq += g.sub[s].tr[p].uniq;
			/* a shared group owes each message once, to any one member */
			expect += g.sc != SC_SHARED || s == 0 ? g.pub[p].sent : 0;
		}
	lost = expect > uniq ? expect - uniq : 0;
	printf("RESULT scenario=%s qos=%d v=%d pubs=%d subs=%d size=%d rate=%.0f msgs_per_s=%.0f "
	       "p50_us=%llu p99_us=%llu p999_us=%llu max_us=%llu lost=%llu dup=%llu sent=%llu "
	       "delivered=%llu skipped=%llu broker_cpu_s=%.2f cpu_s_per_mmsg=%.3f secs=%.2f "
	       "cpu_pct=%.2f\n",
	       scen_names[g.sc], g.qos, g.v5 ? 5 : 4, g.pubs, g.subs, g.size, g.rate,
	       (double)g.recv_win / secs, (unsigned long long)pct_us(0.50),
	       (unsigned long long)pct_us(0.99), (unsigned long long)pct_us(0.999),
	       (unsigned long long)(g.max_ns / 1000), (unsigned long long)lost,
	       (unsigned long long)g.dup, (unsigned long long)sent,
	       (unsigned long long)g.recv_total, (unsigned long long)g.skipped, cpu1 - cpu0,
	       g.recv_win ? (cpu1 - cpu0) * 1e6 / (double)g.recv_win : 0.0, secs,
	       (cpu1 - cpu0) * 100.0 / secs);
	for (int i = 0; i < g.pubs; i++)
		if (g.pub[i].st == CS_READY) {
			put_hdr(&g.pub[i].out, 0xe0, 0);
			flush(&g.pub[i]);
		}
	for (int i = 0; i < g.subs; i++)
		if (g.sub[i].st == CS_READY) {
			put_hdr(&g.sub[i].out, 0xe0, 0);
			flush(&g.sub[i]);
		}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: mqttbench [--host IPv4] [--port N] [--sub-port N (subscribers' broker)]\n"
	        "  [--scenario fanin|shared|pairs|fanout|idle|mixed] [--pubs P] [--subs S]\n"
	        "  [--qos 0|1|2] [--v5] [--persistent (subscribers' sessions kept)] [--size BYTES] "
	        "[--duration SEC] [--warmup SEC]\n"
	        "  [--rate MSGS_PER_SEC (0 = closed loop; mixed: 1 per publisher)]\n"
	        "  [--conns N (idle; mixed: publishers + subscribers)]\n"
	        "  [--src-ips N (bind to 127.0.0.1..N in turn)] [--hold SEC (idle: then wait)]\n"
	        "  [--broker-pid PID (CPU, RSS)]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"host", required_argument, NULL, 'h'},
	        {"port", required_argument, NULL, 'p'},
	        {"sub-port", required_argument, NULL, 'u'},
	        {"scenario", required_argument, NULL, 's'},
	        {"pubs", required_argument, NULL, 'P'},
	        {"subs", required_argument, NULL, 'S'},
	        {"qos", required_argument, NULL, 'q'},
	        {"size", required_argument, NULL, 'z'},
	        {"duration", required_argument, NULL, 'd'},
	        {"warmup", required_argument, NULL, 'w'},
	        {"rate", required_argument, NULL, 'r'},
	        {"conns", required_argument, NULL, 'c'},
	        {"broker-pid", required_argument, NULL, 'b'},
	        {"v5", no_argument, NULL, '5'},
	        {"persistent", no_argument, NULL, 'k'},
	        {"src-ips", required_argument, NULL, 'i'},
	        {"hold", required_argument, NULL, 'H'},
	        {NULL, 0, NULL, 0},
	};
	int o, rc, sc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			g.host = optarg;
			break;
		case 'p':
			g.port = atoi(optarg);
			break;
		case 'u':
			g.sub_port = atoi(optarg);
			break;
		case 's':
			sc = SC_COUNT - 1;
			while (sc >= 0 && strcmp(optarg, scen_names[sc]) != 0)
				sc--;
			if (sc < 0)
				usage();
			g.sc = (enum scen)sc;
			break;
		case 'P':
			g.pubs = atoi(optarg);
			break;
		case 'S':
			g.subs = atoi(optarg);
			break;
		case 'q':
			g.qos = atoi(optarg);
			break;
		case 'z':
			g.size = atoi(optarg);
			break;
		case 'd':
			g.duration = atof(optarg);
			break;
		case 'w':
			g.warmup = atof(optarg);
			break;
		case 'r':
			g.rate = atof(optarg);
			break;
		case 'c':
			g.conns = atoi(optarg);
			break;
		case 'b':
			g.broker_pid = atoi(optarg);
			break;
		case 'k':
			g.persistent = true;
			break;
		case '5':
			g.v5 = true;
			break;
		case 'i':
			g.src_ips = atoi(optarg);
			break;
		case 'H':
			g.hold = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (g.port < 1 || g.port > 65535 || g.sub_port < 0 || g.sub_port > 65535 || g.qos < 0 ||
	    g.qos > 2 || g.pubs < 1 || g.subs < 1 || g.conns < 1 || g.duration <= 0 ||
	    g.warmup < 0 || g.rate < 0 || g.size > 1 << 20 || g.src_ips < 0 || g.src_ips > 254 ||
	    g.hold < 0)
		usage();
	if (g.size < PAYLOAD_MIN)
		g.size = PAYLOAD_MIN;
	if (g.sc == SC_FANIN)
		g.subs = 1;
	else if (g.sc == SC_PAIRS)
		g.subs = g.pubs;
	else if (g.sc == SC_FANOUT)
		g.pubs = 1;
	else if (g.sc == SC_MIXED) {
		if (g.conns <= g.subs)
			usage();
		g.pubs = g.conns - g.subs;
		/* round robin at pubs msgs/s: each publisher once a second */
		if (g.rate == 0)
			g.rate = g.pubs;
	}
	raise_nofile((g.sc == SC_IDLE ? g.conns : g.pubs + g.subs) + 16);
	if ((g.ep = epoll_create1(0)) < 0)
		die("epoll_create1");
	rc = g.sc == SC_IDLE ? run_idle() : run_flow();
	fflush(stdout);
	return rc;
}
