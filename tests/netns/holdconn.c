/* holdconn: a TCP peer for tests/netns/run-exhaustion: many connections held open at once,
 * and connect() loops that count the attempts the kernel refuses.
 *
 * Modes
 *   server   accepts connections concurrently (one thread each); every connection gets a
 *            64-byte request, waits --hold-ms, answers 512 bytes, and is closed in the
 *            agreed order.  Exits after --count connections were served.
 *   client   --parallel K: K connections started --stagger-ms apart, each with its own
 *            connect timeout (--connect-timeout-ms), all held until the server answers;
 *            otherwise --count N connections one after the other, --interval-ms apart.
 *            A failed connect() is counted, not fatal: the last line on stdout is
 *            "connected C failed F" and, per errno, "errno NAME N" lines before it.
 *            --log FILE appends one JSON line per attempt, as the client saw it, in
 *            the format of tests/netns/attempts (what tests/netns/check-outcomes
 *            reads): host (--name), local, remote, start (CLOCK_REALTIME, as
 *            tcpdump's, just before connect()), connect ("connected", "timeout",
 *            "ECONNREFUSED", ...), connect_s (its duration, CLOCK_MONOTONIC),
 *            syn_retrans (tcp_info's tcpi_total_retrans right after it: nothing but
 *            SYNs has been sent yet), transfer, requests, bytes, close.
 *            --local-port P binds the client's N-th connection to source port P+N-1
 *            (SO_REUSEADDR), so that a rerun shows the same 4-tuples.
 *
 * The wire is kept deterministic as in tcppeer.c: the reader flushes its ACK after every
 * read (TCP_QUICKACK) and the writer waits until its data is acknowledged (SIOCOUTQ)
 * before closing, so each connection is SYN, SYN-ACK, ACK, request, ACK, response, ACK,
 * FIN, ACK, FIN, ACK whatever the hold time.
 *
 * Limits: Linux only (SIOCOUTQ, TCP_QUICKACK); IPv4 and IPv6 numeric addresses.
 * Exit status: 0 done (connect failures included), 1 a connection failed after it was
 * established, or the server did not get --count connections within --timeout-ms of
 * inactivity, 2 usage error. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#define REQUEST_BYTES 64
#define RESPONSE_BYTES 512
#define MAX_PARALLEL 256

enum side { SIDE_CLIENT, SIDE_SERVER };

struct opts {
	enum side role;
	enum side closer;		/* who sends the first FIN */
	const char *connect;		/* client: IP:PORT or [IP6]:PORT */
	unsigned port;			/* server: port to listen on */
	const char *ready_file;		/* server: created once listening */
	unsigned long count;		/* server: connections to serve; client: sequential ones */
	unsigned long parallel;		/* client: connections held at once (0: sequential) */
	unsigned long stagger_ms;	/* client --parallel: pause between starts */
	unsigned long interval_ms;	/* client sequential: pause between connections */
	unsigned long hold_ms;		/* server: wait before answering */
	unsigned long timeout_ms;	/* bound on every other blocking call */
	unsigned long connect_ms;	/* client: bound on connect() (0: timeout_ms) */
	const char *log;		/* client: per-attempt JSON lines appended here */
	const char *name;		/* client: "host" of those lines */
	unsigned long local_port;	/* client: first source port (0: the kernel's choice) */
};

/* Shared by the client's threads: counts of outcomes, under lock. */
struct tally {
	pthread_mutex_t lock;
	unsigned long connected, failed, broken;
	int err_seen[256];		/* connect() errno -> count (errno < 256) */
	FILE *log;			/* --log, or NULL */
};

/* One attempt as the client saw it (--log). */
struct attempt {
	char local[80];			/* "IP:PORT" from getsockname() once connect() began */
	double start;			/* CLOCK_REALTIME seconds before connect() */
	double connect_s;		/* connect() duration */
	int err;			/* connect() errno, 0 when connected */
	long syn_retrans;		/* tcpi_total_retrans after connect(), -1 unknown */
	const char *transfer;		/* "ok", "timeout", "reset", "error", "none" */
	int requests, bytes;
	const char *close;		/* "client", "server" or NULL */
};

struct job {
	const struct opts *o;
	struct tally *t;
	struct sockaddr_storage dst;
	socklen_t dlen;
	int fd;				/* server: accepted socket */
	unsigned long n;
};

static void usage(FILE *out)
{
	fputs("usage: holdconn server --port P [--count N] [--hold-ms H] [--close-first client|server]\n"
	      "                       [--ready-file PATH] [--timeout-ms T]\n"
	      "       holdconn client --connect IP:P|[IP6]:P [--parallel K --stagger-ms S]\n"
	      "                       [--count N --interval-ms M] [--close-first client|server]\n"
	      "                       [--connect-timeout-ms C] [--timeout-ms T]\n"
	      "                       [--log FILE [--name NAME]] [--local-port P]\n"
	      "Both peers must be given the same --close-first (default: client).\n", out);
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int parse_num(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
		fprintf(stderr, "holdconn: %s: '%s' is not a number in 0..%lu\n", opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	unsigned long v;

	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	if (strcmp(argv[1], "client") == 0) {
		o->role = SIDE_CLIENT;
	} else if (strcmp(argv[1], "server") == 0) {
		o->role = SIDE_SERVER;
	} else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		exit(0);
	} else {
		fprintf(stderr, "holdconn: unknown mode '%s' (expected client or server)\n", argv[1]);
		return -1;
	}
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (val == NULL) {
			fprintf(stderr, "holdconn: %s: missing value (or unknown option)\n", a);
			return -1;
		}
		if (strcmp(a, "--connect") == 0) {
			o->connect = val;
		} else if (strcmp(a, "--log") == 0) {
			o->log = val;
		} else if (strcmp(a, "--name") == 0) {
			o->name = val;
		} else if (strcmp(a, "--ready-file") == 0) {
			o->ready_file = val;
		} else if (strcmp(a, "--close-first") == 0) {
			if (strcmp(val, "client") == 0)
				o->closer = SIDE_CLIENT;
			else if (strcmp(val, "server") == 0)
				o->closer = SIDE_SERVER;
			else {
				fprintf(stderr, "holdconn: --close-first: expected client or server, got '%s'\n", val);
				return -1;
			}
		} else if (strcmp(a, "--local-port") == 0) {
			if (parse_num(a, val, 65535, &o->local_port) < 0 || o->local_port == 0)
				return -1;
		} else if (strcmp(a, "--port") == 0) {
			if (parse_num(a, val, 65535, &v) < 0 || v == 0)
				return -1;
			o->port = (unsigned)v;
		} else if (strcmp(a, "--count") == 0) {
			if (parse_num(a, val, 100000, &o->count) < 0 || o->count == 0)
				return -1;
		} else if (strcmp(a, "--parallel") == 0) {
			if (parse_num(a, val, MAX_PARALLEL, &o->parallel) < 0 || o->parallel == 0)
				return -1;
		} else if (strcmp(a, "--stagger-ms") == 0) {
			if (parse_num(a, val, 60000, &o->stagger_ms) < 0)
				return -1;
		} else if (strcmp(a, "--interval-ms") == 0) {
			if (parse_num(a, val, 60000, &o->interval_ms) < 0)
				return -1;
		} else if (strcmp(a, "--hold-ms") == 0) {
			if (parse_num(a, val, 600000, &o->hold_ms) < 0)
				return -1;
		} else if (strcmp(a, "--connect-timeout-ms") == 0) {
			if (parse_num(a, val, 600000, &o->connect_ms) < 0 || o->connect_ms == 0)
				return -1;
		} else if (strcmp(a, "--timeout-ms") == 0) {
			if (parse_num(a, val, 600000, &o->timeout_ms) < 0 || o->timeout_ms == 0)
				return -1;
		} else {
			fprintf(stderr, "holdconn: unknown option '%s'\n", a);
			return -1;
		}
	}
	if (o->role == SIDE_CLIENT && o->connect == NULL) {
		fputs("holdconn: client: --connect IP:PORT is required\n", stderr);
		return -1;
	}
	if (o->local_port > 0 && o->local_port + (o->parallel ? o->parallel : o->count) - 1 > 65535) {
		fputs("holdconn: client: --local-port: the connections' ports run past 65535\n", stderr);
		return -1;
	}
	if (o->role == SIDE_SERVER && o->port == 0) {
		fputs("holdconn: server: --port is required\n", stderr);
		return -1;
	}
	return 0;
}

/* "IP:PORT" or "[IP6]:PORT" to a socket address. */
static int resolve(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *port, *colon;
	size_t n;
	struct addrinfo hints = { 0 }, *res = NULL;
	int rc;

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
	if (n == 0 || n >= sizeof host || colon[1] == '\0')
		goto bad;
	memcpy(host, s, n);
	host[n] = '\0';
	port = colon + 1;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "holdconn: --connect '%s': %s\n", s, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
bad:
	fprintf(stderr, "holdconn: --connect '%s': expected IP:PORT or [IPv6]:PORT\n", s);
	return -1;
}

static int set_int(int fd, int level, int name, int val)
{
	return setsockopt(fd, level, name, &val, sizeof val);
}

static int set_timeouts(int fd, unsigned long ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		return -1;
	return 0;
}

/* Sends our pending delayed ACK now (see the banner). */
static int flush_ack(int fd)
{
	return set_int(fd, IPPROTO_TCP, TCP_QUICKACK, 1);
}

static int wait_acked(int fd, unsigned long timeout_ms)
{
	for (unsigned long waited = 0; waited <= timeout_ms; waited++) {
		int outq = 0;

		if (ioctl(fd, SIOCOUTQ, &outq) < 0)
			return -1;
		if (outq == 0)
			return 0;
		sleep_ms(1);
	}
	errno = ETIMEDOUT;
	return -1;
}

static int send_bytes(int fd, size_t n, char fill)
{
	char buf[RESPONSE_BYTES];

	memset(buf, fill, sizeof buf);
	while (n > 0) {
		ssize_t w = send(fd, buf, n < sizeof buf ? n : sizeof buf, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_bytes(int fd, size_t n)
{
	char buf[RESPONSE_BYTES];

	while (n > 0) {
		ssize_t r = recv(fd, buf, n < sizeof buf ? n : sizeof buf, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		n -= (size_t)r;
	}
	return 0;
}

/* Waits for the peer's FIN. */
static int wait_eof(int fd)
{
	char c;

	for (;;) {
		ssize_t r = recv(fd, &c, 1, 0);

		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

/* Ends the connection in the agreed order and closes fd. */
static int finish(int fd, const struct opts *o)
{
	int rc = 0;

	if (o->closer == o->role) {
		if (shutdown(fd, SHUT_WR) < 0 || wait_eof(fd) < 0)
			rc = -1;
	} else if (wait_eof(fd) < 0 || flush_ack(fd) < 0) {	/* ACK the FIN before ours */
		rc = -1;
	}
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

static void count(struct tally *t, int connected, int err, int broken)
{
	pthread_mutex_lock(&t->lock);
	if (broken)
		t->broken++;
	else if (connected)
		t->connected++;
	else {
		t->failed++;
		if (err > 0 && err < 256)
			t->err_seen[err]++;
	}
	pthread_mutex_unlock(&t->lock);
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "IP:PORT" ("[IP6]:PORT") of the socket's local end, "*:0" when it has none. */
static void local_text(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "*";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		port = ntohs(a->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%u", host, port);
		return;
	}
	snprintf(out, len, "%s:%u", host, port);
}

/* connect() bounded by ms: non-blocking, so that the local port can be read while the SYNs
 * are out (a failed connect() releases it); the same packets as a blocking connect()
 * bounded by SO_SNDTIMEO.  0 connected, else -1 with errno (ETIMEDOUT for the bound). */
static int connect_bounded(int fd, const struct sockaddr_storage *dst, socklen_t dlen,
			   unsigned long ms, struct attempt *at)
{
	int fl = fcntl(fd, F_GETFL), err = 0, r;
	socklen_t el = sizeof err;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	double t0 = clock_s(CLOCK_MONOTONIC), left;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	at->start = clock_s(CLOCK_REALTIME);
	r = connect(fd, (const struct sockaddr *)dst, dlen);
	local_text(fd, at->local, sizeof at->local);
	if (r < 0 && errno != EINPROGRESS)
		err = errno;
	while (r < 0 && err == 0) {
		left = (double)ms - (clock_s(CLOCK_MONOTONIC) - t0) * 1000.0;
		r = left > 0 ? poll(&p, 1, (int)left + 1) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			err = r == 0 ? ETIMEDOUT : errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		else
			r = err == 0 ? 0 : -1;
	}
	at->connect_s = clock_s(CLOCK_MONOTONIC) - t0;
	at->err = err;
	if (err == 0 && fcntl(fd, F_SETFL, fl) < 0)
		return -1;
	errno = err;
	return err == 0 ? 0 : -1;
}

static long syn_retrans(int fd)
{
	struct tcp_info ti;
	socklen_t tl = sizeof ti;

	memset(&ti, 0, sizeof ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 ||
	    tl < offsetof(struct tcp_info, tcpi_total_retrans) + sizeof ti.tcpi_total_retrans)
		return -1;
	return (long)ti.tcpi_total_retrans;
}

static const char *errno_name(int e)
{
	switch (e) {
	case ETIMEDOUT: return "timeout";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	default: return "error";
	}
}

/* The attempt as one JSON line of --log (see the banner). */
static void log_attempt(const struct opts *o, struct tally *t, const struct attempt *at)
{
	char sr[24] = "null";

	if (t->log == NULL)
		return;
	if (at->syn_retrans >= 0)
		snprintf(sr, sizeof sr, "%ld", at->syn_retrans);
	pthread_mutex_lock(&t->lock);
	fprintf(t->log, "{\"host\": \"%s\", \"local\": \"%s\", \"remote\": \"%s\", \"start\": %.6f, "
		"\"connect\": \"%s\", \"icmp\": null, \"icmp_from\": null, \"connect_s\": %.6f, "
		"\"syn_retrans\": %s, \"transfer\": \"%s\", \"requests\": %d, \"bytes\": %d, "
		"\"close\": %s%s%s}\n",
		o->name != NULL ? o->name : "holdconn", at->local, o->connect, at->start,
		at->err == 0 ? "connected" : errno_name(at->err), at->connect_s, sr, at->transfer,
		at->requests, at->bytes, at->close != NULL ? "\"" : "",
		at->close != NULL ? at->close : "null", at->close != NULL ? "\"" : "");
	fflush(t->log);
	pthread_mutex_unlock(&t->lock);
}

/* The exchange after connect(): request, response, close; 0 done, else -1 with at->transfer
 * or at->close saying where it broke. */
static int client_exchange(int fd, const struct opts *o, struct attempt *at, unsigned long n)
{
	if (set_timeouts(fd, o->timeout_ms) < 0 ||
	    send_bytes(fd, REQUEST_BYTES, 'q') < 0 || wait_acked(fd, o->timeout_ms) < 0 ||
	    recv_bytes(fd, RESPONSE_BYTES) < 0 || flush_ack(fd) < 0) {
		at->transfer = errno == EAGAIN || errno == ETIMEDOUT ? "timeout" :
			       errno == ECONNRESET ? "reset" : "error";
		fprintf(stderr, "holdconn: client %lu: exchange: %s\n", n, strerror(errno));
		close(fd);
		return -1;
	}
	at->transfer = "ok";
	at->requests = 1;
	at->bytes = RESPONSE_BYTES;
	if (finish(fd, o) < 0) {
		fprintf(stderr, "holdconn: client %lu: close: %s\n", n, strerror(errno));
		return -1;
	}
	at->close = o->closer == SIDE_CLIENT ? "client" : "server";
	return 0;
}

/* --local-port: the n-th connection's source port. */
static int bind_local(int fd, const struct opts *o, int family, unsigned long n)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (o->local_port == 0)
		return 0;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)(o->local_port + n - 1));
		sl = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)(o->local_port + n - 1));
		sl = sizeof *a;
	}
	if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
		return -1;
	return bind(fd, (struct sockaddr *)&ss, sl);
}

/* One client connection: connect (a failure is counted), request, response, close. */
static void client_once(const struct opts *o, struct tally *t, const struct sockaddr_storage *dst,
			socklen_t dlen, unsigned long n)
{
	struct attempt at = { .local = "*:0", .syn_retrans = -1, .transfer = "none" };
	int fd = socket(dst->ss_family, SOCK_STREAM, IPPROTO_TCP);

	if (fd < 0) {
		fprintf(stderr, "holdconn: client %lu: socket: %s\n", n, strerror(errno));
		count(t, 0, errno, 1);
		return;
	}
	if (set_timeouts(fd, o->timeout_ms) < 0 || bind_local(fd, o, dst->ss_family, n) < 0) {
		fprintf(stderr, "holdconn: client %lu: timeouts or bind: %s\n", n, strerror(errno));
		close(fd);
		count(t, 0, errno, 1);
		return;
	}
	if (connect_bounded(fd, dst, dlen, o->connect_ms ? o->connect_ms : o->timeout_ms, &at) < 0) {
		int err = errno;

		at.syn_retrans = syn_retrans(fd);	/* tcp_info outlives the failed connect */
		close(fd);
		log_attempt(o, t, &at);
		count(t, 0, err, 0);
		return;
	}
	at.syn_retrans = syn_retrans(fd);
	if (client_exchange(fd, o, &at, n) < 0) {
		log_attempt(o, t, &at);
		count(t, 1, 0, 1);
		return;
	}
	log_attempt(o, t, &at);
	count(t, 1, 0, 0);
}

static void *client_thread(void *arg)
{
	struct job *j = arg;

	client_once(j->o, j->t, &j->dst, j->dlen, j->n);
	return NULL;
}

static int run_client(struct opts *o)
{
	struct tally t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct job jobs[MAX_PARALLEL];
	pthread_t th[MAX_PARALLEL];
	struct sockaddr_storage dst;
	socklen_t dlen;
	unsigned long started = 0;

	if (resolve(o->connect, &dst, &dlen) < 0)
		return 2;
	if (o->log != NULL && (t.log = fopen(o->log, "a")) == NULL) {
		fprintf(stderr, "holdconn: --log %s: %s\n", o->log, strerror(errno));
		return 2;
	}
	if (o->parallel > 0) {
		for (unsigned long i = 0; i < o->parallel; i++) {
			jobs[i] = (struct job){ .o = o, .t = &t, .dst = dst, .dlen = dlen, .n = i + 1 };
			if (i > 0 && o->stagger_ms > 0)
				sleep_ms(o->stagger_ms);
			if (pthread_create(&th[i], NULL, client_thread, &jobs[i]) != 0) {
				fprintf(stderr, "holdconn: client: cannot start thread %lu\n", i + 1);
				break;
			}
			started++;
		}
		for (unsigned long i = 0; i < started; i++)
			pthread_join(th[i], NULL);
	} else {
		for (unsigned long n = 1; n <= o->count; n++) {
			if (n > 1 && o->interval_ms > 0)
				sleep_ms(o->interval_ms);
			client_once(o, &t, &dst, dlen, n);
		}
	}
	for (int e = 1; e < 256; e++)
		if (t.err_seen[e] > 0)
			printf("errno %s %d\n", e == EADDRNOTAVAIL ? "EADDRNOTAVAIL" :
			       e == ETIMEDOUT ? "ETIMEDOUT" : e == ECONNREFUSED ? "ECONNREFUSED" :
			       strerror(e), t.err_seen[e]);
	printf("connected %lu failed %lu\n", t.connected, t.failed);
	if (t.log != NULL && fclose(t.log) != 0) {
		fprintf(stderr, "holdconn: --log %s: %s\n", o->log, strerror(errno));
		return 1;
	}
	return t.broken > 0 ? 1 : 0;
}

static void *server_thread(void *arg)
{
	struct job *j = arg;
	const struct opts *o = j->o;
	int fd = j->fd, ok;

	ok = set_timeouts(fd, o->timeout_ms + o->hold_ms) == 0 && recv_bytes(fd, REQUEST_BYTES) == 0 &&
	     flush_ack(fd) == 0;
	if (ok) {
		sleep_ms(o->hold_ms);
		ok = send_bytes(fd, RESPONSE_BYTES, 'r') == 0 && wait_acked(fd, o->timeout_ms) == 0;
	}
	if (!ok) {
		fprintf(stderr, "holdconn: server: connection %lu: %s\n", j->n, strerror(errno));
		close(fd);
		count(j->t, 1, 0, 1);
		return NULL;
	}
	if (finish(fd, o) < 0) {
		fprintf(stderr, "holdconn: server: connection %lu: close: %s\n", j->n, strerror(errno));
		count(j->t, 1, 0, 1);
		return NULL;
	}
	count(j->t, 1, 0, 0);
	return NULL;
}

static int run_server(const struct opts *o)
{
	struct tally t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct job *jobs;
	pthread_t *th;
	unsigned long started = 0;
	int lfd, rc = 1;

	jobs = calloc(o->count, sizeof *jobs);
	th = calloc(o->count, sizeof *th);
	lfd = socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
	if (jobs == NULL || th == NULL || lfd < 0) {
		fprintf(stderr, "holdconn: server: setup: %s\n", strerror(errno));
		goto out_free;
	}
	a.sin6_port = htons((uint16_t)o->port);
	if (set_int(lfd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 ||
	    set_int(lfd, IPPROTO_IPV6, IPV6_V6ONLY, 0) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "holdconn: server: listen on port %u: %s\n", o->port, strerror(errno));
		goto out_close;
	}
	if (o->ready_file != NULL) {
		FILE *f = fopen(o->ready_file, "w");

		if (f == NULL || fputs("listening\n", f) == EOF || fclose(f) != 0) {
			fprintf(stderr, "holdconn: server: ready file %s: %s\n", o->ready_file, strerror(errno));
			goto out_close;
		}
	}
	while (started < o->count) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int r = poll(&p, 1, (int)o->timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "holdconn: server: %lu of %lu connections, then nothing for %lu ms\n",
				started, o->count, o->timeout_ms);
			break;
		}
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		jobs[started] = (struct job){ .o = o, .t = &t, .fd = fd, .n = started + 1 };
		if (pthread_create(&th[started], NULL, server_thread, &jobs[started]) != 0) {
			close(fd);
			break;
		}
		started++;
	}
	for (unsigned long i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (started == o->count && t.broken == 0)
		rc = 0;
out_close:
	close(lfd);
out_free:
	free(jobs);
	free(th);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { .closer = SIDE_CLIENT, .count = 1, .timeout_ms = 5000 };

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return o.role == SIDE_CLIENT ? run_client(&o) : run_server(&o);
}
