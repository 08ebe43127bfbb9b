/* capture_internal.h - private to src/capture: the libwiretap reader used for
 * pcapng files that libpcap refuses (interfaces with different link types). */
#ifndef TCPDOCTOR_CAPTURE_INTERNAL_H
#define TCPDOCTOR_CAPTURE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tcpdoctor/capture.h"

typedef struct cap_wtap cap_wtap;

/* True when this build has the libwiretap reader. */
bool cap_wtap_available(void);

/* Open a capture file with libwiretap; NULL with errbuf "why" on failure
 * (the caller prefixes the file name).  "-" is not supported. */
cap_wtap *cap_wtap_open(const char *path, char *errbuf, size_t errlen);

/* Next record: 1 and *f filled (data borrowed until the next call; f->dlt is
 * the record's own DLT_ link type, f->source and f->file_packet are left to
 * the caller), 0 at end of file, -1 on a read error (errbuf: "why").
 * f->dlt is -1 when the record's encapsulation has no trustworthy DLT_ value
 * (unknown to libwiretap, or a pseudo-header libwiretap removes).
 * Records that are not packets (events, system-call records) are skipped
 * and counted in *skipped. */
int cap_wtap_next(cap_wtap *w, cap_frame *f, unsigned long *skipped,
                  char *errbuf, size_t errlen);

void cap_wtap_close(cap_wtap *w);

#endif
