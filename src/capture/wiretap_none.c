/* wiretap_none.c - capture stage: stands in for the libwiretap reader in
 * builds without libwiretap, so files libpcap refuses fail with a reason. */

#include "capture_internal.h"

#include <stdio.h>

bool cap_wtap_available(void)
{
    return false;
}

/* Always NULL: this build has no second reader. */
cap_wtap *cap_wtap_open(const char *path, char *errbuf, size_t errlen)
{
    (void)path;
    snprintf(errbuf, errlen,
             "this build cannot read pcapng files with several link types (libwiretap missing)");
    return NULL;
}

/* Unreachable: no cap_wtap can exist.  Fails rather than pretending EOF. */
int cap_wtap_next(cap_wtap *w, cap_frame *f, unsigned long *skipped,
                  char *errbuf, size_t errlen)
{
    (void)w;
    (void)f;
    (void)skipped;
    snprintf(errbuf, errlen, "libwiretap missing");
    return -1;
}

void cap_wtap_close(cap_wtap *w)
{
    (void)w;
}
