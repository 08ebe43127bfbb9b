/* capture.h - packet sources through libpcap: capture files (merged in time order) and live interfaces. */
#ifndef TCPDOCTOR_CAPTURE_H
#define TCPDOCTOR_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAP_ERRBUF 512

/* One frame as read.  data borrows from the reader: valid until the next
 * cap_next() or cap_close(). */
/* Frame times are clamped to [0, CAP_TS_MAX] (2^62 ns: the year 2116, past
 * the end of the pcap format's 32-bit seconds): a damaged or crafted file
 * cannot hold times that overflow when later stages add or subtract two of
 * them.  Clamped frames are counted (cap_file_stats.ts_clamped). */
#define CAP_TS_MAX (INT64_C(1) << 62)

typedef struct cap_frame {
    const uint8_t *data;
    uint32_t caplen;
    uint32_t wirelen;
    int64_t  ts_ns;         /* ns since the Unix epoch, within [0, CAP_TS_MAX] */
    int      dlt;           /* link type of this frame (DLT_*) */
    uint16_t source;        /* index of the file it came from */
    uint64_t file_packet;   /* 1-based number within that file */
    uint64_t num;           /* 1-based number in the merged input, counting
                               frames the filter rejected: with one file it
                               is Wireshark's frame number */
} cap_frame;

/* Per-file outcome, for the statistics and for error messages. */
typedef struct cap_file_stats {
    const char *name;       /* as given ("-" for stdin); borrowed */
    uint64_t packets;       /* frames read from it */
    uint64_t filtered;      /* of those, rejected by the BPF filter */
    uint64_t ts_clamped;    /* of those, with a time outside [0, CAP_TS_MAX] */
    bool     failed;        /* stopped early on a read error */
    int      dlt;           /* link type of the first interface */
    const char *reader;     /* "libpcap" or "libwiretap" */
} cap_file_stats;

typedef struct cap_reader cap_reader;

/*
 * Open every file (pcap or pcapng; "-" is standard input) and, when bpf is
 * not NULL and not empty, apply it as a BPF filter (tcpdump syntax) to each.
 * Returns NULL and fills errbuf with "FILE: why" when a file cannot be opened,
 * has an unsupported link type, or the filter does not compile.
 */
cap_reader *cap_open(const char *const *files, size_t nfiles, const char *bpf,
                     char *errbuf, size_t errlen);

/*
 * Next frame in time order across all files (ties: lower file index first).
 * Returns 1 and fills *f; 0 at the end of every file; -1 when one file failed
 * (errbuf: "FILE: packet N: why").  After -1, further calls continue with the
 * remaining files, so a caller can report the error and still read the rest.
 */
int cap_next(cap_reader *r, cap_frame *f, char *errbuf, size_t errlen);

size_t cap_file_count(const cap_reader *r);
void cap_file_stats_get(const cap_reader *r, size_t i, cap_file_stats *out);

/* Human name of a link type, e.g. "EN10MB (Ethernet)". */
const char *cap_linktype_desc(int dlt, char *buf, size_t len);

void cap_close(cap_reader *r);

/* ---- live capture ------------------------------------------------------ */

typedef struct cap_live_config {
    const char *iface;          /* interface name, as tcpdump -i takes it */
    const char *bpf;            /* NULL or "": no filter (runs in the kernel) */
    int      snaplen;           /* bytes kept per frame; 0: 262144 */
    int      buffer_bytes;      /* kernel ring size; 0: 8 MiB */
    const char *dump_path;      /* NULL: none; else every frame read is also
                                   written there (pcap, same time precision) */
} cap_live_config;

typedef struct cap_live_stats {
    uint64_t packets;           /* frames handed out by cap_live_next() */
    bool     nano;              /* time stamps have nanosecond precision */
    bool     stats_ok;          /* libpcap answered pcap_stats() */
    uint64_t recv;              /* ps_recv: frames the kernel passed the filter */
    uint64_t drop;              /* ps_drop: dropped, no room in the buffer */
    uint64_t ifdrop;            /* ps_ifdrop: dropped by the interface/driver */
} cap_live_stats;

typedef struct cap_live cap_live;

/*
 * Open an interface for live capture: not promiscuous, immediate mode,
 * nanosecond time stamps where the platform offers them, non-blocking
 * reads.  Returns NULL and fills errbuf with "IFACE: why" when the interface
 * cannot be opened or activated, the filter does not compile or cannot be
 * set, or the dump file cannot be created.  Warnings from pcap_activate()
 * (e.g. a time stamp type not supported) are put in warn ("" when none).
 */
cap_live *cap_live_open(const cap_live_config *cfg, char *warn, size_t warnlen,
                        char *errbuf, size_t errlen);

/* DLT_ link type of the interface. */
int cap_live_dlt(const cap_live *l);

/* A descriptor that becomes readable when frames may be waiting (for
 * poll()); -1 when the platform has none (then read on a timer). */
int cap_live_fd(const cap_live *l);

/*
 * Next frame, without waiting.  Returns 1 and fills *f (data borrowed until
 * the next call; f->source is 0, f->num and f->file_packet count the frames
 * read, which is also their number in the dump file); 0 when none is
 * waiting; -1 on a capture error (errbuf: "IFACE: why"; the interface went
 * down, for instance), after which the capture cannot go on.
 */
int cap_live_next(cap_live *l, cap_frame *f, char *errbuf, size_t errlen);

/* Write the dump file's buffered frames to the file (no-op without one).
 * 0, or -1 with errbuf "FILE: why". */
int cap_live_flush(cap_live *l, char *errbuf, size_t errlen);

/* Current counters, including libpcap's: pcap_stats() is asked each call
 * and its 32-bit counters are widened across wrap-arounds. */
void cap_live_stats_get(cap_live *l, cap_live_stats *out);

/* Flush and close the dump file and the interface.  0, or -1 with errbuf
 * "FILE: why" when the dump file could not be written completely; l is
 * freed either way. */
int cap_live_close(cap_live *l, char *errbuf, size_t errlen);

#endif
