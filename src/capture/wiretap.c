/* wiretap.c - capture stage: reads, through libwiretap (Wireshark's reader),
 * the pcapng files that libpcap 1.10 refuses (interfaces with different link
 * types or snapshot lengths). */

#include "capture_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

/* Third-party headers: their warnings are not ours to fix.  Wireshark 4.0.17
 * compiles clean under -Wall -Wextra (gcc 12, clang 14); these cover what
 * other versions' inline helpers are known to trip, without loosening the
 * project flags for our own code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <wiretap/pcap-encap.h>
#include <wiretap/wtap.h>
#include <wsutil/buffer.h>
#include <wsutil/wslog.h>
#pragma GCC diagnostic pop

/* f->dlt for a frame that has no faithful DLT_ value (see find_dlt()). */
enum { CAP_WTAP_NO_DLT = -1 };

/* encap_dlt entry not looked up yet. */
enum { CAP_WTAP_DLT_UNSET = -2 };

/* Initial size of the record buffer; libwiretap grows it as needed. */
enum { CAP_WTAP_BUF_INIT = 2048 };

struct cap_wtap {
    wtap     *wth;          /* the open file */
    wtap_rec  rec;          /* header of the last record read */
    Buffer    buf;          /* bytes of the last record; cap_frame.data borrows them */
    int      *encap_dlt;    /* find_dlt() per WTAP_ENCAP_ value, or CAP_WTAP_DLT_UNSET */
    int       nencap;       /* entries in encap_dlt */
};

bool cap_wtap_available(void)
{
    return true;
}

/*
 * LINKTYPE_ (file) values whose DLT_ (API) value differs on some platform;
 * every other LINKTYPE_ value equals its DLT_ value.  Source: pcap-linktype(7)
 * ("LINKTYPE_ values ... differ from DLT_ values on some platforms") and
 * libpcap 1.10 pcap-common.c linktype_to_dlt(), which libpcap does not export.
 * The right-hand side is the DLT_ macro of this platform's <pcap/dlt.h>, so
 * the table is right wherever it is compiled; the numbers are Linux's.
 */
static const struct {
    int linktype;           /* LINKTYPE_ value, pcap-linktype(7) */
    int dlt;                /* DLT_ value on this platform */
} linktype_dlt[] = {
    { 100, DLT_ATM_RFC1483 },   /* LINKTYPE_ATM_RFC1483 -> 11 */
    { 101, DLT_RAW },           /* LINKTYPE_RAW -> 12 (14 on OpenBSD) */
    { 102, DLT_SLIP_BSDOS },    /* LINKTYPE_SLIP_BSDOS -> 15 (13 on NetBSD, FreeBSD) */
    { 103, DLT_PPP_BSDOS },     /* LINKTYPE_PPP_BSDOS -> 16 (14 on NetBSD, FreeBSD) */
    { 106, DLT_ATM_CLIP },      /* LINKTYPE_ATM_CLIP -> 19 */
    { 108, DLT_LOOP },          /* LINKTYPE_LOOP -> 108 (12 on OpenBSD) */
    { 109, DLT_ENC },           /* LINKTYPE_ENC -> 109 (13 on OpenBSD) */
    { 246, DLT_PFSYNC },        /* LINKTYPE_PFSYNC -> 246 (18 on the BSDs, macOS) */
    { 258, DLT_PKTAP },         /* LINKTYPE_PKTAP -> 258 (DLT_USER2 on macOS) */
};

static int linktype_to_dlt(int linktype)
{
    for (size_t i = 0; i < sizeof linktype_dlt / sizeof linktype_dlt[0]; i++) {
        if (linktype_dlt[i].linktype == linktype)
            return linktype_dlt[i].dlt;
    }
    return linktype;
}

/*
 * The DLT_ value of the file's link type for a WTAP_ENCAP_ value.
 *
 * How it works: libwiretap's own inverse, wtap_wtap_encap_to_pcap_encap(), is
 * not exported by libwiretap.so.13 (pcap-encap.h declares it without
 * WS_DLL_PUBLIC), so we invert the exported wtap_pcap_encap_to_wtap_encap():
 * LINKTYPE_ values (the 16-bit pcapng IDB link_type) are mapped forward until
 * one gives this encapsulation.  Several LINKTYPE_ values share one (raw IP:
 * 12, 14, 101), so the order matters: first 0-10 and 100-65535, the range of
 * registered LINKTYPE_ values, then 11-99, old platform DLT_ numbers that
 * libwiretap still accepts.  That gives raw IP 101, PPP 9, ATM RFC 1483 100,
 * ATM CLIP 106, Cisco HDLC 104, ENC 109.  linktype_to_dlt() then gives the
 * DLT_ value.  Common types are found in a few steps; an encapsulation with
 * no LINKTYPE_ costs all 65536 (~6 ms), once per reader (see encap_to_dlt).
 *
 * Limits:
 * - LINKTYPE_ values that libwiretap folds together cannot be told apart
 *   again: LINKTYPE_PPP_HDLC (50) reads as DLT_PPP (9).
 * - Link types libwiretap does not know arrive as WTAP_ENCAP_UNKNOWN; their
 *   number is lost, so they get CAP_WTAP_NO_DLT.
 * - For encapsulations where libwiretap moves a pseudo-header out of the
 *   packet bytes into rec.pseudo_header (wtap_encap_requires_phdr(): SunATM,
 *   PPP_WITH_DIR, Bluetooth H4 with direction, ERF, ...), the bytes no longer
 *   match the DLT_ format, so they get CAP_WTAP_NO_DLT rather than a DLT_
 *   value a decoder would misparse.
 */
static int find_dlt(int encap)
{
    static const struct { int first, last; } order[] = {
        { 0, 10 }, { 100, 65535 }, { 11, 99 },
    };

    if (encap <= WTAP_ENCAP_UNKNOWN || wtap_encap_requires_phdr(encap))
        return CAP_WTAP_NO_DLT;
    for (size_t r = 0; r < sizeof order / sizeof order[0]; r++) {
        for (int lt = order[r].first; lt <= order[r].last; lt++) {
            if (wtap_pcap_encap_to_wtap_encap(lt) == encap)
                return linktype_to_dlt(lt);
        }
    }
    return CAP_WTAP_NO_DLT;
}

/* find_dlt(), remembered per encapsulation for the life of the reader. */
static int encap_to_dlt(cap_wtap *w, int encap)
{
    if (encap < 0 || encap >= w->nencap)
        return find_dlt(encap);
    if (w->encap_dlt[encap] == CAP_WTAP_DLT_UNSET)
        w->encap_dlt[encap] = find_dlt(encap);
    return w->encap_dlt[encap];
}

static int encap_cache_init(cap_wtap *w)
{
    int n = wtap_get_num_encap_types();

    if (n <= 0)
        return 0;
    w->encap_dlt = malloc((size_t)n * sizeof w->encap_dlt[0]);
    if (w->encap_dlt == NULL)
        return -1;
    for (int e = 0; e < n; e++)
        w->encap_dlt[e] = CAP_WTAP_DLT_UNSET;
    w->nencap = n;
    return 0;
}

/* "why" from a libwiretap error; takes ownership of err_info.  A short read
 * is the common case (a capture copied while still being written) and
 * libwiretap 4.0 words it vaguely, so it gets a plainer lead. */
static void set_wtap_error(char *errbuf, size_t errlen, int err, gchar *err_info)
{
    const char *lead = err == WTAP_ERR_SHORT_READ ? "file ends inside a record: " : "";

    if (err_info != NULL)
        snprintf(errbuf, errlen, "%s%s (%s)", lead, wtap_strerror(err), err_info);
    else
        snprintf(errbuf, errlen, "%s%s", lead, wtap_strerror(err));
    g_free(err_info);
}

/*
 * wtap_init() registers libwiretap's file types and encapsulations in its
 * own global tables, once per process.  The guard is a plain flag: opening
 * the first file from two threads at once is not supported (tcpdoctor opens
 * its inputs from one thread).  wtap_cleanup() is never called; the tables
 * stay reachable until exit.
 *
 * Until a program calls ws_log_init(), wsutil logs every level, debug
 * included, to stderr.  Library code must not print (errors come back in
 * err/err_info), so only "critical" and "error" messages, which wsutil
 * always shows and which come before an abort or from a libwiretap bug,
 * stay on.  The level is process-wide; tcpdoctor has no other wsutil user.
 */
static void wtap_init_once(void)
{
    static bool done;

    if (!done) {
        ws_log_set_level(LOG_LEVEL_CRITICAL);
        wtap_init(FALSE);
        done = true;
    }
}

cap_wtap *cap_wtap_open(const char *path, char *errbuf, size_t errlen)
{
    int err = 0;
    gchar *err_info = NULL;
    cap_wtap *w;

    /* wtap_open_offline() would read standard input for "-". */
    if (strcmp(path, "-") == 0) {
        snprintf(errbuf, errlen, "standard input cannot be read through libwiretap");
        return NULL;
    }
    wtap_init_once();

    w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(errbuf, errlen, "%s", strerror(ENOMEM));
        return NULL;
    }
    w->wth = wtap_open_offline(path, WTAP_TYPE_AUTO, &err, &err_info, FALSE);
    if (w->wth == NULL) {
        if (err == 0) {
            snprintf(errbuf, errlen, "libwiretap cannot open it (no reason given)");
            g_free(err_info);
        } else {
            set_wtap_error(errbuf, errlen, err, err_info);
        }
        goto out_free;
    }
    /* WTAP_TYPE_AUTO also tries every other format libwiretap knows, some of
     * which turn any file into one "packet": a pcapng whose header is damaged
     * opens as "MIME File Format".  This reader is for pcapng only. */
    if (wtap_file_type_subtype(w->wth) != wtap_pcapng_file_type_subtype()) {
        snprintf(errbuf, errlen, "not a pcapng file (libwiretap reads it as %s)",
                 wtap_file_type_subtype_description(wtap_file_type_subtype(w->wth)));
        goto out_close_file;
    }
    if (encap_cache_init(w) != 0) {
        snprintf(errbuf, errlen, "%s", strerror(ENOMEM));
        goto out_close_file;
    }
    wtap_rec_init(&w->rec);
    ws_buffer_init(&w->buf, CAP_WTAP_BUF_INIT);
    return w;

out_close_file:
    wtap_close(w->wth);
out_free:
    free(w->encap_dlt);
    free(w);
    return NULL;
}

/* ns since the epoch; -1 when it does not fit in an int64_t (year > 2262). */
static int ts_to_ns(const nstime_t *ts, int64_t *out)
{
    const int64_t ns_per_s = 1000000000;

    if (ts->nsecs < 0 || ts->nsecs >= ns_per_s)
        return -1;
    if (ts->secs > (INT64_MAX - ts->nsecs) / ns_per_s || ts->secs < INT64_MIN / ns_per_s)
        return -1;
    *out = (int64_t)ts->secs * ns_per_s + ts->nsecs;
    return 0;
}

/* Fill *f from the packet record just read; -1 with errbuf on bad values. */
static int fill_frame(cap_wtap *w, cap_frame *f, char *errbuf, size_t errlen)
{
    const wtap_packet_header *ph = &w->rec.rec_header.packet_header;
    /* wtap_read() writes caplen bytes at the buffer start after growing it
     * (ws_buffer_assure_space()) but leaves ws_buffer_length() at 0, so the
     * room allocated is what can be checked. */
    size_t room = w->buf.allocated - w->buf.start;

    if (ph->caplen > room) {
        snprintf(errbuf, errlen, "libwiretap gave a %" PRIu32 "-byte capture in a %zu-byte buffer",
                 ph->caplen, room);
        return -1;
    }
    if (ts_to_ns(&w->rec.ts, &f->ts_ns) != 0) {
        snprintf(errbuf, errlen, "time stamp %lld.%09d s is out of range (after 2262 or before 1677)",
                 (long long)w->rec.ts.secs, w->rec.ts.nsecs);
        return -1;
    }
    f->data = ws_buffer_start_ptr(&w->buf);
    f->caplen = ph->caplen;
    f->wirelen = ph->len;
    f->dlt = encap_to_dlt(w, ph->pkt_encap);
    return 0;
}

int cap_wtap_next(cap_wtap *w, cap_frame *f, unsigned long *skipped,
                  char *errbuf, size_t errlen)
{
    for (;;) {
        int err = 0;
        gchar *err_info = NULL;
        gint64 offset;

        /* Drops the previous record's option block (comments, verdicts). */
        wtap_rec_reset(&w->rec);
        if (!wtap_read(w->wth, &w->rec, &w->buf, &err, &err_info, &offset)) {
            if (err == 0) {
                g_free(err_info);
                return 0;
            }
            set_wtap_error(errbuf, errlen, err, err_info);
            return -1;
        }
        if (w->rec.rec_type == REC_TYPE_PACKET)
            break;
        if (skipped != NULL)
            (*skipped)++;
    }
    return fill_frame(w, f, errbuf, errlen) == 0 ? 1 : -1;
}

void cap_wtap_close(cap_wtap *w)
{
    if (w == NULL)
        return;
    wtap_rec_cleanup(&w->rec);
    ws_buffer_free(&w->buf);
    wtap_close(w->wth);
    free(w->encap_dlt);
    free(w);
}
