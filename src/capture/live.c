/* live.c - capture from a network interface through libpcap, optionally keeping the frames in a pcap file. */
#include "tcpdoctor/capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * How it works.  The handle is built step by step (pcap_create, then the
 * options, then pcap_activate) so that each option can fail or warn on its
 * own: immediate mode hands every frame over as soon as it arrives (no
 * batching delay, pcap_set_immediate_mode(3PCAP)); nanosecond time stamps
 * are asked for and used when the platform has them, micro otherwise.  The
 * filter is compiled for the interface's link type and set in the kernel
 * (pcap_setfilter), so rejected frames never cross into user space and are
 * not numbered.  Reads are non-blocking: the caller waits on cap_live_fd()
 * with its own timeout, so it can refresh a status line and notice a signal.
 *
 * libpcap's counters (struct pcap_stat) are 32-bit and wrap on a busy link;
 * each cap_live_stats_get() adds the difference since the previous reading,
 * modulo 2^32, so the totals stay right as long as it is called at least
 * once per 2^32 frames.
 *
 * Limits: ps_ifdrop is not supported everywhere (Linux reports the
 * interface's rx_dropped since the capture started).
 */

#define LIVE_SNAPLEN_DEFAULT 262144
#define LIVE_BUFFER_DEFAULT (8 * 1024 * 1024)

struct cap_live {
    pcap_t *pcap;
    pcap_dumper_t *dump;
    char *dump_path;
    char iface[64];
    int dlt;
    bool nano;
    uint64_t packets;
    bool stats_ok;
    struct pcap_stat last;      /* previous raw reading */
    uint64_t recv, drop, ifdrop;
};

static void say(char *buf, size_t len, const char *iface, const char *what, const char *why)
{
    if (buf != NULL && len > 0)
        snprintf(buf, len, "%s: %s%s%s", iface, what, why[0] ? ": " : "", why);
}

/* Text for a pcap_activate() result: libpcap's own message when it left one. */
static const char *activate_why(pcap_t *p, int rc)
{
    const char *detail = pcap_geterr(p);
    if (rc == PCAP_ERROR || rc == PCAP_WARNING || rc == PCAP_ERROR_NO_SUCH_DEVICE ||
        rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_WARNING_PROMISC_NOTSUP)
        if (detail != NULL && detail[0] != '\0')
            return detail;
    return pcap_statustostr(rc);
}

static int set_options(pcap_t *p, const cap_live_config *cfg)
{
    int rc;
    if ((rc = pcap_set_snaplen(p, cfg->snaplen > 0 ? cfg->snaplen : LIVE_SNAPLEN_DEFAULT)) != 0)
        return rc;
    /* Not promiscuous: the traffic of this host, or what a mirror port or
       bridge delivers anyway; tcpdump -p behaves the same. */
    if ((rc = pcap_set_promisc(p, 0)) != 0)
        return rc;
    if ((rc = pcap_set_immediate_mode(p, 1)) != 0)
        return rc;
    if ((rc = pcap_set_buffer_size(p, cfg->buffer_bytes > 0 ? cfg->buffer_bytes
                                                            : LIVE_BUFFER_DEFAULT)) != 0)
        return rc;
    rc = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    if (rc == PCAP_ERROR_TSTAMP_PRECISION_NOTSUP)
        rc = 0;                 /* microseconds, then */
    return rc;
}

static int set_filter(cap_live *l, const char *bpf, char *errbuf, size_t errlen)
{
    if (bpf == NULL || bpf[0] == '\0')
        return 0;
    struct bpf_program prog;
    if (pcap_compile(l->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        say(errbuf, errlen, l->iface, "filter", pcap_geterr(l->pcap));
        return -1;
    }
    int rc = pcap_setfilter(l->pcap, &prog);
    pcap_freecode(&prog);
    if (rc != 0) {
        say(errbuf, errlen, l->iface, "cannot set the filter", pcap_geterr(l->pcap));
        return -1;
    }
    return 0;
}

cap_live *cap_live_open(const cap_live_config *cfg, char *warn, size_t warnlen,
                        char *errbuf, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    if (warn != NULL && warnlen > 0)
        warn[0] = '\0';
    cap_live *l = calloc(1, sizeof *l);
    if (l == NULL) {
        say(errbuf, errlen, cfg->iface, "out of memory", "");
        return NULL;
    }
    snprintf(l->iface, sizeof l->iface, "%s", cfg->iface);
    l->pcap = pcap_create(cfg->iface, perr);
    if (l->pcap == NULL) {
        say(errbuf, errlen, l->iface, "cannot open", perr);
        goto out_free;
    }
    int rc = set_options(l->pcap, cfg);
    if (rc != 0) {
        say(errbuf, errlen, l->iface, "cannot set capture options", pcap_statustostr(rc));
        goto out_close;
    }
    rc = pcap_activate(l->pcap);
    if (rc < 0) {
        say(errbuf, errlen, l->iface, "cannot capture", activate_why(l->pcap, rc));
        goto out_close;
    }
    if (rc > 0)
        say(warn, warnlen, l->iface, "warning", activate_why(l->pcap, rc));
    l->nano = pcap_get_tstamp_precision(l->pcap) == PCAP_TSTAMP_PRECISION_NANO;
    l->dlt = pcap_datalink(l->pcap);
    if (set_filter(l, cfg->bpf, errbuf, errlen) != 0)
        goto out_close;
    if (pcap_setnonblock(l->pcap, 1, perr) != 0) {
        say(errbuf, errlen, l->iface, "cannot make reads non-blocking", perr);
        goto out_close;
    }
    if (cfg->dump_path != NULL) {
        l->dump_path = strdup(cfg->dump_path);
        l->dump = l->dump_path ? pcap_dump_open(l->pcap, cfg->dump_path) : NULL;
        if (l->dump == NULL) {
            /* libpcap's message names the file already */
            if (errbuf != NULL && errlen > 0 && l->dump_path != NULL)
                snprintf(errbuf, errlen, "%s", pcap_geterr(l->pcap));
            else
                say(errbuf, errlen, cfg->dump_path, "out of memory", "");
            goto out_close;
        }
    }
    return l;

out_close:
    pcap_close(l->pcap);
out_free:
    free(l->dump_path);
    free(l);
    return NULL;
}

int cap_live_dlt(const cap_live *l)
{
    return l->dlt;
}

int cap_live_fd(const cap_live *l)
{
    return pcap_get_selectable_fd(l->pcap);
}

int cap_live_next(cap_live *l, cap_frame *f, char *errbuf, size_t errlen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(l->pcap, &h, &data);
    if (rc == 0)
        return 0;
    if (rc < 0) {
        say(errbuf, errlen, l->iface, "capture failed",
            rc == PCAP_ERROR_BREAK ? "interrupted" : pcap_geterr(l->pcap));
        return -1;
    }
    if (l->dump != NULL)
        pcap_dump((u_char *)l->dump, h, data);
    l->packets++;
    f->data = data;
    f->caplen = h->caplen;
    f->wirelen = h->len;
    f->ts_ns = (int64_t)h->ts.tv_sec * 1000000000LL +
               (int64_t)h->ts.tv_usec * (l->nano ? 1 : 1000);
    f->dlt = l->dlt;
    f->source = 0;
    f->file_packet = l->packets;
    f->num = l->packets;
    return 1;
}

int cap_live_flush(cap_live *l, char *errbuf, size_t errlen)
{
    if (l->dump == NULL)
        return 0;
    if (pcap_dump_flush(l->dump) != 0 || ferror(pcap_dump_file(l->dump))) {
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "%s: cannot write: %s", l->dump_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Difference between two readings of a 32-bit counter that may have wrapped. */
static uint64_t delta32(u_int now, u_int before)
{
    return (uint32_t)((uint32_t)now - (uint32_t)before);
}

void cap_live_stats_get(cap_live *l, cap_live_stats *out)
{
    struct pcap_stat ps;
    if (pcap_stats(l->pcap, &ps) == 0) {
        l->recv += delta32(ps.ps_recv, l->last.ps_recv);
        l->drop += delta32(ps.ps_drop, l->last.ps_drop);
        l->ifdrop += delta32(ps.ps_ifdrop, l->last.ps_ifdrop);
        l->last = ps;
        l->stats_ok = true;
    }
    memset(out, 0, sizeof *out);
    out->packets = l->packets;
    out->nano = l->nano;
    out->stats_ok = l->stats_ok;
    out->recv = l->recv;
    out->drop = l->drop;
    out->ifdrop = l->ifdrop;
}

int cap_live_close(cap_live *l, char *errbuf, size_t errlen)
{
    if (l == NULL)
        return 0;
    int rc = 0;
    if (l->dump != NULL) {
        rc = cap_live_flush(l, errbuf, errlen);
        pcap_dump_close(l->dump);
    }
    pcap_close(l->pcap);
    free(l->dump_path);
    free(l);
    return rc;
}
