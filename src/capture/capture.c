/* capture.c - read capture files through libpcap, merge them in time order, filter with BPF. */
#include "tcpdoctor/capture.h"

#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture/capture_internal.h"

/*
 * How it works: every input keeps one "head" frame, the next one it will
 * give.  cap_next() returns the head with the earliest time stamp (lower
 * file index on ties, so one file keeps its own order even when its time
 * stamps go backwards), then refills that input on the following call:
 * libpcap's buffer for a frame is valid only until the next read of the same
 * handle, and only that handle is read.  With n inputs a call costs O(n);
 * n is the number of files on the command line.
 *
 * The BPF filter runs after the merge, with pcap_offline_filter(), so that
 * frames it rejects are still numbered: with one file, cap_frame.num is the
 * frame number Wireshark and tcpdump -# show, and evidence in reports can
 * be looked up there.
 *
 * libpcap 1.10 refuses pcapng files whose interfaces differ in link type or
 * snapshot length, but only when it reaches the second interface block.  On
 * that error the file is reopened with libwiretap, the frames already given
 * are skipped, and reading goes on (regular files only: stdin cannot be
 * reread).
 */

struct bpf_slot {
    int dlt;
    bool compiled;
    struct bpf_program prog;
};

#define BPF_SLOTS 8     /* distinct link types per run that get a filter */

typedef struct cap_input {
    const char *name;
    pcap_t *pcap;
    cap_wtap *wtap;
    int dlt;                    /* libpcap: the handle's link type */
    bool has_head;              /* head holds the next frame */
    bool done;
    bool failed;
    bool need_refill;
    cap_frame head;
    uint64_t packets;
    uint64_t filtered;
    uint64_t ts_clamped;        /* frames whose time clamp_time() moved */
    unsigned long wtap_skipped;     /* records that are not packets (pcapng
                                       systemd journal, events...) */
    unsigned long head_skipped;     /* of those, just before the head frame:
                                       Wireshark numbers them as frames, so
                                       they advance cap_frame.num too */
} cap_input;

struct cap_reader {
    cap_input *in;
    size_t n;
    char *bpf;                  /* NULL: no filter */
    struct bpf_slot slots[BPF_SLOTS];
    uint64_t num;
};

/* Messages are cut to the caller's buffer: a long path or filter text may
 * end truncated, never overflow. */
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

const char *cap_linktype_desc(int dlt, char *buf, size_t len)
{
    if (dlt < 0) {
        /* libwiretap could not name it, or strips a pseudo-header from it */
        snprintf(buf, len, "(an encapsulation libwiretap cannot pass through as raw frames)");
        return buf;
    }
    const char *name = pcap_datalink_val_to_name(dlt);
    const char *desc = pcap_datalink_val_to_description(dlt);
    if (name != NULL && desc != NULL)
        snprintf(buf, len, "%s (%s)", name, desc);
    else
        snprintf(buf, len, "%d (a number libpcap has no name for)", dlt);
    return buf;
}

/* Compile the filter for one link type, once; NULL when there is no filter. */
static const struct bpf_program *filter_for(cap_reader *r, int dlt, char *errbuf,
                                            size_t errlen)
{
    if (r->bpf == NULL)
        return NULL;
    for (size_t i = 0; i < BPF_SLOTS; i++) {
        struct bpf_slot *s = &r->slots[i];
        if (s->compiled && s->dlt == dlt)
            return &s->prog;
        if (s->compiled)
            continue;
        pcap_t *dead = pcap_open_dead(dlt, 262144);
        if (dead == NULL) {
            set_err(errbuf, errlen, "cannot compile filter: out of memory");
            return NULL;
        }
        if (pcap_compile(dead, &s->prog, r->bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            char lt[96];
            set_err(errbuf, errlen, "filter \"%s\" on %s: %s", r->bpf,
                    cap_linktype_desc(dlt, lt, sizeof lt), pcap_geterr(dead));
            pcap_close(dead);
            return NULL;
        }
        pcap_close(dead);
        s->dlt = dlt;
        s->compiled = true;
        return &s->prog;
    }
    set_err(errbuf, errlen, "too many different link types for one filter");
    return NULL;
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* libpcap's words when a pcapng file has interfaces it will not mix. */
static bool is_mixed_interface_error(const char *msg)
{
    return strstr(msg, "different from the type of the first interface") != NULL ||
           strstr(msg, "different from the snapshot length of the first") != NULL ||
           (strstr(msg, "snapshot length") != NULL && strstr(msg, "different") != NULL);
}

/* Reopen in with libwiretap and skip the frames libpcap already gave. */
static int switch_to_wiretap(cap_input *in, char *why, size_t whylen)
{
    if (!cap_wtap_available() || !is_regular_file(in->name))
        return -1;
    char err[CAP_ERRBUF];
    cap_wtap *w = cap_wtap_open(in->name, err, sizeof err);
    if (w == NULL) {
        snprintf(why, whylen, "%s", err);
        return -1;
    }
    for (uint64_t i = 0; i < in->packets; i++) {
        cap_frame skip;
        if (cap_wtap_next(w, &skip, &in->wtap_skipped, err, sizeof err) != 1) {
            set_err(why, whylen, "libwiretap reread ended early: %s", err);
            cap_wtap_close(w);
            return -1;
        }
    }
    pcap_close(in->pcap);
    in->pcap = NULL;
    in->wtap = w;
    return 0;
}

/* Times before 1970 or after CAP_TS_MAX come only from damaged or crafted
 * files: clamped (and counted) so that no later stage overflows on them. */
static void clamp_time(cap_input *in, cap_frame *f)
{
    if (f->ts_ns >= 0 && f->ts_ns <= CAP_TS_MAX)
        return;
    f->ts_ns = f->ts_ns < 0 ? 0 : CAP_TS_MAX;
    in->ts_clamped++;
}

/* Read the next frame of one input into its head.  1 ok, 0 end, -1 error. */
static int refill(cap_input *in, uint16_t index, char *errbuf, size_t errlen)
{
    in->has_head = false;
    in->need_refill = false;
    if (in->done)
        return 0;
    cap_frame *f = &in->head;
    if (in->pcap != NULL) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int rc = pcap_next_ex(in->pcap, &h, &data);
        if (rc == 1) {
            f->data = data;
            f->caplen = h->caplen;
            f->wirelen = h->len;
            /* opened with nanosecond precision: tv_usec holds ns.  Seconds
               beyond int64 ns are cut here; see clamp_time() for the rest. */
            const int64_t max_s = INT64_MAX / 1000000000LL - 1;
            int64_t sec = (int64_t)h->ts.tv_sec;
            if (sec > max_s)
                sec = max_s;
            else if (sec < -max_s)
                sec = -max_s;
            f->ts_ns = sec * 1000000000LL + (int64_t)h->ts.tv_usec % 1000000000LL;
            f->dlt = in->dlt;
        } else if (rc == PCAP_ERROR_BREAK) {
            in->done = true;
            return 0;
        } else {
            char msg[PCAP_ERRBUF_SIZE + 64];
            snprintf(msg, sizeof msg, "%s", pcap_geterr(in->pcap));
            char why[CAP_ERRBUF] = "";
            if (is_mixed_interface_error(msg) && switch_to_wiretap(in, why, sizeof why) == 0)
                return refill(in, index, errbuf, errlen);
            set_err(errbuf, errlen, "%s: packet %llu: %s%s%s", in->name,
                    (unsigned long long)(in->packets + in->wtap_skipped + 1), msg, why[0] ? "; " : "", why);
            in->done = in->failed = true;
            return -1;
        }
    } else {
        char err[CAP_ERRBUF];
        unsigned long before = in->wtap_skipped;
        int rc = cap_wtap_next(in->wtap, f, &in->wtap_skipped, err, sizeof err);
        in->head_skipped = in->wtap_skipped - before;
        if (rc == 0) {
            in->done = true;
            return 0;
        }
        if (rc < 0) {
            set_err(errbuf, errlen, "%s: packet %llu: %s", in->name,
                    (unsigned long long)(in->packets + in->wtap_skipped + 1), err);
            in->done = in->failed = true;
            return -1;
        }
    }
    in->packets++;
    f->source = index;
    f->file_packet = in->packets + in->wtap_skipped;
    clamp_time(in, f);
    in->has_head = true;
    return 1;
}

static void reader_free(cap_reader *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        if (r->in[i].pcap != NULL)
            pcap_close(r->in[i].pcap);
        if (r->in[i].wtap != NULL)
            cap_wtap_close(r->in[i].wtap);
    }
    for (size_t i = 0; i < BPF_SLOTS; i++)
        if (r->slots[i].compiled)
            pcap_freecode(&r->slots[i].prog);
    free(r->in);
    free(r->bpf);
    free(r);
}

cap_reader *cap_open(const char *const *files, size_t nfiles, const char *bpf,
                     char *errbuf, size_t errlen)
{
    if (nfiles == 0 || nfiles > UINT16_MAX) {
        set_err(errbuf, errlen, "no input file");
        return NULL;
    }
    size_t stdin_uses = 0;
    for (size_t i = 0; i < nfiles; i++)
        stdin_uses += strcmp(files[i], "-") == 0;
    if (stdin_uses > 1) {
        set_err(errbuf, errlen, "-: standard input given more than once");
        return NULL;
    }
    cap_reader *r = calloc(1, sizeof *r);
    if (r == NULL || (r->in = calloc(nfiles, sizeof *r->in)) == NULL)
        goto out_nomem;
    r->n = nfiles;
    if (bpf != NULL && bpf[0] != '\0' && (r->bpf = strdup(bpf)) == NULL)
        goto out_nomem;

    for (size_t i = 0; i < nfiles; i++) {
        cap_input *in = &r->in[i];
        char perr[PCAP_ERRBUF_SIZE];
        in->name = files[i];
        in->pcap = pcap_open_offline_with_tstamp_precision(files[i],
                       PCAP_TSTAMP_PRECISION_NANO, perr);
        if (in->pcap == NULL) {
            /* libpcap cannot open it at all: try libwiretap for other formats
               only if libpcap's message is about the format, else report it. */
            set_err(errbuf, errlen, "%s: %s", files[i], perr);
            goto out_free;
        }
        in->dlt = pcap_datalink(in->pcap);
        in->need_refill = true;
        /* A filter that does not compile for this link type is a usage
           error, reported before reading anything. */
        if (r->bpf != NULL && filter_for(r, in->dlt, perr, sizeof perr) == NULL) {
            set_err(errbuf, errlen, "%s: %s", files[i], perr);
            goto out_free;
        }
    }
    return r;

out_nomem:
    set_err(errbuf, errlen, "out of memory");
out_free:
    reader_free(r);
    return NULL;
}

/* Apply the filter to a frame; 1 keep, 0 drop, -1 error (input failed). */
static int filter_frame(cap_reader *r, cap_input *in, const cap_frame *f, char *errbuf,
                        size_t errlen)
{
    char ferr[CAP_ERRBUF];
    const struct bpf_program *prog = filter_for(r, f->dlt, ferr, sizeof ferr);
    if (prog == NULL) {
        set_err(errbuf, errlen, "%s: packet %llu: %s", in->name,
                (unsigned long long)f->file_packet, ferr);
        in->done = in->failed = true;
        in->need_refill = false;
        return -1;
    }
    struct pcap_pkthdr h = {
        .caplen = f->caplen,
        .len = f->wirelen,
    };
    if (pcap_offline_filter(prog, &h, f->data) != 0)
        return 1;
    in->filtered++;
    return 0;
}

/* One input: no merge to do. */
static int next_single(cap_reader *r, cap_frame *f, char *errbuf, size_t errlen)
{
    cap_input *in = &r->in[0];
    for (;;) {
        int rc = refill(in, 0, errbuf, errlen);
        if (rc <= 0)
            return rc;
        *f = in->head;
        in->has_head = false;
        r->num += in->head_skipped;
        in->head_skipped = 0;
        f->num = ++r->num;
        if (r->bpf == NULL)
            return 1;
        rc = filter_frame(r, in, f, errbuf, errlen);
        if (rc != 0)
            return rc;
    }
}

int cap_next(cap_reader *r, cap_frame *f, char *errbuf, size_t errlen)
{
    if (r->n == 1)
        return next_single(r, f, errbuf, errlen);
    for (;;) {
        /* Refill every input whose head was taken (at most one, except at
           the start) and note the earliest head. */
        cap_input *best = NULL;
        for (size_t i = 0; i < r->n; i++) {
            cap_input *in = &r->in[i];
            if (in->need_refill && refill(in, (uint16_t)i, errbuf, errlen) < 0)
                return -1;
            if (in->has_head && (best == NULL || in->head.ts_ns < best->head.ts_ns))
                best = in;
        }
        if (best == NULL)
            return 0;
        *f = best->head;
        best->has_head = false;
        best->need_refill = true;
        r->num += best->head_skipped;
        best->head_skipped = 0;
        f->num = ++r->num;
        if (r->bpf == NULL)
            return 1;
        int rc = filter_frame(r, best, f, errbuf, errlen);
        if (rc != 0)
            return rc;
    }
}

size_t cap_file_count(const cap_reader *r)
{
    return r->n;
}

void cap_file_stats_get(const cap_reader *r, size_t i, cap_file_stats *out)
{
    const cap_input *in = &r->in[i];
    out->name = in->name;
    out->packets = in->packets;
    out->filtered = in->filtered;
    out->ts_clamped = in->ts_clamped;
    out->failed = in->failed;
    out->dlt = in->dlt;
    out->reader = in->wtap != NULL ? "libwiretap" : "libpcap";
}

void cap_close(cap_reader *r)
{
    reader_free(r);
}
