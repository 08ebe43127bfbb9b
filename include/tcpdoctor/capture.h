/* capture.h - packet sources: capture files (merged in time order) through libpcap. */
#ifndef TCPDOCTOR_CAPTURE_H
#define TCPDOCTOR_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAP_ERRBUF 512

/* One frame as read.  data borrows from the reader: valid until the next
 * cap_next() or cap_close(). */
typedef struct cap_frame {
    const uint8_t *data;
    uint32_t caplen;
    uint32_t wirelen;
    int64_t  ts_ns;         /* ns since the Unix epoch */
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

#endif
