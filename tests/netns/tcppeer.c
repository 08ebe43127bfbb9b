/* tcppeer: a deterministic TCP peer for the real-kernel tests (tests/netns/run): one
 * fixed-size request and response per connection, a chosen close order (FIN or RST),
 * and optionally a fixed source port and a fixed initial sequence number.
 *
 * How it keeps the wire deterministic: both sides move in lock step so that the number
 * of segments does not depend on scheduling.
 *   - after every read the reader flushes its pending ACK (TCP_QUICKACK), so each data
 *     segment and each FIN gets its own bare ACK before the reader sends anything;
 *   - before closing, the writer waits until its data is acknowledged (SIOCOUTQ == 0),
 *     so the FIN never rides on a data segment and never overtakes the peer's ACK.
 * With a 64-byte request and a 512-byte response the exchange is always:
 *   SYN, SYN-ACK, ACK, request, ACK, response, ACK, FIN, ACK, FIN, ACK.
 *
 * --isn uses TCP_REPAIR (needs CAP_NET_ADMIN): in repair mode a closed socket's send
 * queue sequence can be set, and tcp_v4_connect()/tcp_v6_connect() keep a non-zero
 * write_seq instead of calling secure_tcp_seq(). Limits: Linux only; the ISN must not be
 * 0 (0 means "let the kernel choose").
 *
 * Every blocking call has a timeout (--timeout-ms, SO_RCVTIMEO/SO_SNDTIMEO and bounded
 * polls), so a lost packet fails the test instead of hanging it.
 * Exit status: 0 success, 1 a connection failed, 2 usage error. */

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sockios.h>

#ifndef TCP_REPAIR_ON
#define TCP_REPAIR_ON 1
#endif
#ifndef TCP_REPAIR_OFF
#define TCP_REPAIR_OFF 0
#endif

enum peer_side {
	SIDE_CLIENT,	/* sent the SYN */
	SIDE_SERVER,	/* accepted it */
};

struct peer_opts {
	enum peer_side role;		/* which program this is */
	enum peer_side closer;		/* who closes first (sends the first FIN or the RST) */
	int abort;			/* closer ends with RST (SO_LINGER 0) instead of FIN */
	const char *connect;		/* client: "IP:PORT" or "[IPv6]:PORT" */
	const char *listen_addr;	/* server: address to bind, default "::" (dual stack) */
	unsigned port;			/* server: port to listen on, 1..65535 */
	unsigned bind_port;		/* client: source port, 0 = ephemeral */
	unsigned long request_bytes;	/* client -> server payload per connection */
	unsigned long response_bytes;	/* server -> client payload per connection */
	unsigned long count;		/* connections to make (client) or accept (server) */
	unsigned long interval_ms;	/* client: pause between connections */
	unsigned long timeout_ms;	/* bound on every blocking call */
	unsigned long long isn;		/* client: initial sequence number, 0 = kernel's */
	const char *ready_file;		/* server: created once listening */
	int verbose;			/* one line per connection on stderr */
};

static void usage(FILE *out)
{
	fputs("usage: tcppeer server --port P [--listen ADDR] [--close-first server|client] [--abort]\n"
	      "                      [--count N] [--request-bytes N] [--response-bytes N]\n"
	      "                      [--ready-file PATH] [--timeout-ms T] [-v]\n"
	      "       tcppeer client --connect IP:P|[IP6]:P [--bind-port N] [--isn N]\n"
	      "                      [--close-first client|server] [--abort] [--count N --interval-ms M]\n"
	      "                      [--request-bytes N] [--response-bytes N] [--timeout-ms T] [-v]\n"
	      "Both peers must be given the same --close-first, --abort and byte counts.\n"
	      "--abort: the side that closes first sends RST (SO_LINGER 0) instead of FIN.\n"
	      "--isn: fix the client's initial sequence number (TCP_REPAIR, needs CAP_NET_ADMIN).\n"
	      "Defaults: --close-first server, --count 1, --request-bytes 64, --response-bytes 512,\n"
	      "--timeout-ms 5000.\n", out);
}

static const char *side_name(enum peer_side s)
{
	return s == SIDE_CLIENT ? "client" : "server";
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int parse_ulong(const char *opt, const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
		fprintf(stderr, "tcppeer: %s: '%s' is not a number in 0..%llu\n", opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_side(const char *opt, const char *s, enum peer_side *out)
{
	if (strcmp(s, "client") == 0)
		*out = SIDE_CLIENT;
	else if (strcmp(s, "server") == 0)
		*out = SIDE_SERVER;
	else {
		fprintf(stderr, "tcppeer: %s: expected 'client' or 'server', got '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

/* Parses argv into opts; returns 0, or -1 after printing why. */
static int parse_args(int argc, char **argv, struct peer_opts *o)
{
	unsigned long long v;

	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	if (strcmp(argv[1], "client") == 0)
		o->role = SIDE_CLIENT;
	else if (strcmp(argv[1], "server") == 0)
		o->role = SIDE_SERVER;
	else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		exit(0);
	} else {
		fprintf(stderr, "tcppeer: unknown mode '%s' (expected client or server)\n", argv[1]);
		return -1;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (strcmp(a, "--abort") == 0) {
			o->abort = 1;
			takes = 0;
		} else if (strcmp(a, "-v") == 0) {
			o->verbose = 1;
			takes = 0;
		} else if (val == NULL) {
			fprintf(stderr, "tcppeer: %s: missing value (or unknown option)\n", a);
			return -1;
		} else if (strcmp(a, "--close-first") == 0) {
			if (parse_side(a, val, &o->closer) < 0)
				return -1;
		} else if (strcmp(a, "--connect") == 0) {
			o->connect = val;
		} else if (strcmp(a, "--listen") == 0) {
			o->listen_addr = val;
		} else if (strcmp(a, "--ready-file") == 0) {
			o->ready_file = val;
		} else if (strcmp(a, "--port") == 0) {
			if (parse_ulong(a, val, 65535, &v) < 0 || v == 0)
				return -1;
			o->port = (unsigned)v;
		} else if (strcmp(a, "--bind-port") == 0) {
			if (parse_ulong(a, val, 65535, &v) < 0)
				return -1;
			o->bind_port = (unsigned)v;
		} else if (strcmp(a, "--request-bytes") == 0) {
			if (parse_ulong(a, val, 1u << 20, &v) < 0)
				return -1;
			o->request_bytes = (unsigned long)v;
		} else if (strcmp(a, "--response-bytes") == 0) {
			if (parse_ulong(a, val, 1u << 20, &v) < 0)
				return -1;
			o->response_bytes = (unsigned long)v;
		} else if (strcmp(a, "--count") == 0) {
			if (parse_ulong(a, val, 100000, &v) < 0 || v == 0)
				return -1;
			o->count = (unsigned long)v;
		} else if (strcmp(a, "--interval-ms") == 0) {
			if (parse_ulong(a, val, 600000, &v) < 0)
				return -1;
			o->interval_ms = (unsigned long)v;
		} else if (strcmp(a, "--timeout-ms") == 0) {
			if (parse_ulong(a, val, 600000, &v) < 0 || v == 0)
				return -1;
			o->timeout_ms = (unsigned long)v;
		} else if (strcmp(a, "--isn") == 0) {
			if (parse_ulong(a, val, UINT32_MAX, &v) < 0)
				return -1;
			o->isn = v;
		} else {
			fprintf(stderr, "tcppeer: unknown option '%s'\n", a);
			return -1;
		}
		i += takes;
	}
	if (o->role == SIDE_CLIENT && o->connect == NULL) {
		fputs("tcppeer: client: --connect IP:PORT is required\n", stderr);
		return -1;
	}
	if (o->role == SIDE_SERVER && o->port == 0) {
		fputs("tcppeer: server: --port is required\n", stderr);
		return -1;
	}
	return 0;
}

/* Resolves a numeric address; port may be NULL. Returns 0 or -1 after printing why. */
static int resolve(const char *host, const char *port, int passive,
		   struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "tcppeer: address '%s' port '%s': %s\n", host, port ? port : "-",
			gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Splits "IP:PORT" or "[IP6]:PORT" (host copied into host[hostlen]). */
static int split_hostport(const char *s, char *host, size_t hostlen, const char **port)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		n = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			goto bad;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= hostlen || colon[1] == '\0')
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
bad:
	fprintf(stderr, "tcppeer: --connect '%s': expected IP:PORT or [IPv6]:PORT\n", s);
	return -1;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
		port = ntohs(a->sin_port);
		snprintf(buf, len, "%s:%u", ip, port);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
		port = ntohs(a->sin6_port);
		snprintf(buf, len, "[%s]:%u", ip, port);
	}
}

static int set_int(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof val) < 0) {
		fprintf(stderr, "tcppeer: setsockopt %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

static int set_timeouts(int fd, unsigned long ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
		fprintf(stderr, "tcppeer: setsockopt SO_RCVTIMEO/SO_SNDTIMEO: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Sends the pending delayed ACK now, if there is one (see the banner). */
static int flush_ack(int fd)
{
	return set_int(fd, IPPROTO_TCP, TCP_QUICKACK, 1, "TCP_QUICKACK");
}

/* Waits until everything written has been acknowledged by the peer. */
static int wait_acked(int fd, const struct peer_opts *o, const char *who)
{
	for (unsigned long waited = 0; waited <= o->timeout_ms; waited++) {
		int outq = 0;

		if (ioctl(fd, SIOCOUTQ, &outq) < 0) {
			fprintf(stderr, "tcppeer: %s: ioctl SIOCOUTQ: %s\n", who, strerror(errno));
			return -1;
		}
		if (outq == 0)
			return 0;
		sleep_ms(1);
	}
	fprintf(stderr, "tcppeer: %s: data not acknowledged within %lu ms\n", who, o->timeout_ms);
	return -1;
}

static int send_bytes(int fd, unsigned long n, char fill, const char *who)
{
	char buf[4096];

	memset(buf, fill, sizeof buf);
	while (n > 0) {
		size_t chunk = n < sizeof buf ? (size_t)n : sizeof buf;
		ssize_t w = send(fd, buf, chunk, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "tcppeer: %s: send: %s\n", who,
				w < 0 ? strerror(errno) : "wrote nothing");
			return -1;
		}
		n -= (unsigned long)w;
	}
	return 0;
}

/* Reads exactly n bytes. */
static int recv_bytes(int fd, unsigned long n, const char *who)
{
	char buf[4096];

	while (n > 0) {
		size_t chunk = n < sizeof buf ? (size_t)n : sizeof buf;
		ssize_t r = recv(fd, buf, chunk, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "tcppeer: %s: recv: %s\n", who,
				errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		if (r == 0) {
			fprintf(stderr, "tcppeer: %s: recv: peer closed with %lu bytes missing\n", who, n);
			return -1;
		}
		n -= (unsigned long)r;
	}
	return 0;
}

/* Waits for the peer's FIN (returns 0), or its RST when expect_reset (returns 1). */
static int wait_eof(int fd, int expect_reset, const char *who)
{
	char c;

	for (;;) {
		ssize_t r = recv(fd, &c, 1, 0);

		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECONNRESET && expect_reset)
			return 1;
		if (r < 0) {
			fprintf(stderr, "tcppeer: %s: waiting for the peer to close: %s\n", who,
				errno == EAGAIN ? "timed out" : strerror(errno));
		} else {
			fprintf(stderr, "tcppeer: %s: unexpected data while waiting for the peer to close\n", who);
		}
		return -1;
	}
}

/* Ends the connection in the agreed order and closes fd. Returns 0 or -1. */
static int finish(int fd, const struct peer_opts *o, const char *who)
{
	int rc = 0;

	if (o->closer == o->role) {
		if (o->abort) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			/* RFC 9293 3.10.4 ABORT; Linux tcp_close() with linger 0 sends RST. */
			if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) {
				fprintf(stderr, "tcppeer: %s: setsockopt SO_LINGER: %s\n", who, strerror(errno));
				rc = -1;
			}
		} else if (shutdown(fd, SHUT_WR) < 0) {
			fprintf(stderr, "tcppeer: %s: shutdown: %s\n", who, strerror(errno));
			rc = -1;
		} else if (wait_eof(fd, 0, who) < 0) {
			rc = -1;
		}
	} else {
		int r = wait_eof(fd, o->abort, who);

		if (r < 0)
			rc = -1;
		else if (r == 0 && flush_ack(fd) < 0)	/* ACK the FIN before our own FIN */
			rc = -1;
	}
	if (close(fd) < 0 && rc == 0) {
		fprintf(stderr, "tcppeer: %s: close: %s\n", who, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Fixes the ISN of an unconnected socket (see the banner). */
static int set_isn(int fd, unsigned long long isn)
{
	if (set_int(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON, "TCP_REPAIR on (needs CAP_NET_ADMIN)") < 0 ||
	    set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE") < 0 ||
	    set_int(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)(uint32_t)isn, "TCP_QUEUE_SEQ") < 0 ||
	    set_int(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF, "TCP_REPAIR off") < 0)
		return -1;
	return 0;
}

static int client_once(const struct peer_opts *o, const struct sockaddr_storage *dst, socklen_t dlen,
		       unsigned long n)
{
	char who[128], peer[80], local[80] = "?";
	struct sockaddr_storage me;
	socklen_t mlen = sizeof me;
	int fd;

	format_addr(dst, peer, sizeof peer);
	snprintf(who, sizeof who, "client: connection %lu to %s", n, peer);
	fd = socket(dst->ss_family, SOCK_STREAM, IPPROTO_TCP);
	if (fd < 0) {
		fprintf(stderr, "tcppeer: %s: socket: %s\n", who, strerror(errno));
		return -1;
	}
	/* TCP_REPAIR off resets SO_REUSEADDR, so the ISN goes first. */
	if ((o->isn != 0 && set_isn(fd, o->isn) < 0) || set_timeouts(fd, o->timeout_ms) < 0)
		goto out_close;
	if (o->bind_port != 0) {
		struct sockaddr_storage src;

		memset(&src, 0, sizeof src);
		src.ss_family = dst->ss_family;
		if (dst->ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = htons((uint16_t)o->bind_port);
		else
			((struct sockaddr_in6 *)&src)->sin6_port = htons((uint16_t)o->bind_port);
		if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR") < 0)
			goto out_close;
		if (bind(fd, (struct sockaddr *)&src, dlen) < 0) {
			fprintf(stderr, "tcppeer: %s: bind source port %u: %s\n", who, o->bind_port,
				strerror(errno));
			goto out_close;
		}
	}
	if (connect(fd, (const struct sockaddr *)dst, dlen) < 0) {
		fprintf(stderr, "tcppeer: %s: connect: %s\n", who,
			errno == EINPROGRESS ? "timed out" : strerror(errno));
		goto out_close;
	}
	if (getsockname(fd, (struct sockaddr *)&me, &mlen) == 0)
		format_addr(&me, local, sizeof local);
	snprintf(who, sizeof who, "client: connection %lu %s -> %s", n, local, peer);
	if (send_bytes(fd, o->request_bytes, 'q', who) < 0 ||
	    wait_acked(fd, o, who) < 0 ||
	    recv_bytes(fd, o->response_bytes, who) < 0 ||
	    flush_ack(fd) < 0)
		goto out_close;
	if (finish(fd, o, who) < 0)
		return -1;
	if (o->verbose)
		fprintf(stderr, "tcppeer: %s: done\n", who);
	return 0;
out_close:
	close(fd);
	return -1;
}

static int run_client(const struct peer_opts *o)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port;
	struct sockaddr_storage dst;
	socklen_t dlen;

	if (split_hostport(o->connect, host, sizeof host, &port) < 0 ||
	    resolve(host, port, 0, &dst, &dlen) < 0)
		return 2;
	for (unsigned long n = 1; n <= o->count; n++) {
		if (n > 1 && o->interval_ms > 0)
			sleep_ms(o->interval_ms);
		if (client_once(o, &dst, dlen, n) < 0)
			return 1;
	}
	return 0;
}

static int serve_one(const struct peer_opts *o, int lfd, unsigned long n)
{
	char who[128], peer[80] = "?";
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	int fd;

	fd = accept(lfd, (struct sockaddr *)&from, &flen);
	if (fd < 0) {
		fprintf(stderr, "tcppeer: server: accept connection %lu of %lu: %s\n", n, o->count,
			errno == EAGAIN ? "timed out" : strerror(errno));
		return -1;
	}
	format_addr(&from, peer, sizeof peer);
	snprintf(who, sizeof who, "server: connection %lu from %s", n, peer);
	if (set_timeouts(fd, o->timeout_ms) < 0 ||
	    recv_bytes(fd, o->request_bytes, who) < 0 ||
	    flush_ack(fd) < 0 ||
	    send_bytes(fd, o->response_bytes, 'r', who) < 0 ||
	    wait_acked(fd, o, who) < 0) {
		close(fd);
		return -1;
	}
	if (finish(fd, o, who) < 0)
		return -1;
	if (o->verbose)
		fprintf(stderr, "tcppeer: %s: done\n", who);
	return 0;
}

static int write_ready_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs("listening\n", f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "tcppeer: server: ready file %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int run_server(const struct peer_opts *o)
{
	char portstr[16];
	struct sockaddr_storage addr;
	socklen_t alen;
	int lfd, rc = 1;

	snprintf(portstr, sizeof portstr, "%u", o->port);
	if (resolve(o->listen_addr, portstr, 1, &addr, &alen) < 0)
		return 2;
	lfd = socket(addr.ss_family, SOCK_STREAM, IPPROTO_TCP);
	if (lfd < 0) {
		fprintf(stderr, "tcppeer: server: socket: %s\n", strerror(errno));
		return 1;
	}
	if (set_int(lfd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR") < 0 ||
	    (addr.ss_family == AF_INET6 && set_int(lfd, IPPROTO_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY") < 0) ||
	    set_timeouts(lfd, o->timeout_ms) < 0)
		goto out_close_listener;
	if (bind(lfd, (struct sockaddr *)&addr, alen) < 0 || listen(lfd, 16) < 0) {
		fprintf(stderr, "tcppeer: server: listen on %s port %u: %s\n", o->listen_addr, o->port,
			strerror(errno));
		goto out_close_listener;
	}
	if (o->ready_file != NULL && write_ready_file(o->ready_file) < 0)
		goto out_close_listener;
	for (unsigned long n = 1; n <= o->count; n++) {
		if (serve_one(o, lfd, n) < 0)
			goto out_close_listener;
	}
	rc = 0;
out_close_listener:
	close(lfd);
	return rc;
}

int main(int argc, char **argv)
{
	struct peer_opts o = {
		.closer = SIDE_SERVER,
		.listen_addr = "::",
		.request_bytes = 64,
		.response_bytes = 512,
		.count = 1,
		.timeout_ms = 5000,
	};

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (o.verbose)
		fprintf(stderr, "tcppeer: %s: %s closes first%s\n", side_name(o.role),
			side_name(o.closer), o.abort ? " with RST" : "");
	return o.role == SIDE_CLIENT ? run_client(&o) : run_server(&o);
}
