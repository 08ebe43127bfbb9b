/* addr.c - pkt_addr helpers: IPv4-mapped test and text form. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpdoctor/packet.h"

/* RFC 4291 2.5.5.2: ::ffff:0:0/96 holds IPv4 addresses. */
static const uint8_t v4_mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool pkt_addr_is_v4(const pkt_addr *a)
{
    return memcmp(a->b, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

/*
 * IPv4-mapped addresses print dotted ("192.0.2.1"), others in RFC 5952 form
 * (inet_ntop).  Limit: an IPv6 packet that really carries a ::ffff:0:0/96
 * address prints as IPv4 too; pkt_view.ip_version tells them apart.
 * A buffer too small for the text gets "" (when len > 0).
 */
char *pkt_addr_str(const pkt_addr *a, char *buf, size_t len)
{
    const char *ok;

    if (len > (size_t)INT32_MAX)
        len = INT32_MAX;
    if (pkt_addr_is_v4(a))
        ok = inet_ntop(AF_INET, &a->b[12], buf, (socklen_t)len);
    else
        ok = inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
    if (ok == NULL && len > 0)
        buf[0] = '\0';
    return buf;
}
