/* readloop.c - bench: the floor, the plainest libpcap read of a capture that tcpdoctor's speed is compared with. */

/*
 * pcap_open_offline + pcap_next_ex to the end, nothing else: what any
 * libpcap-based reader pays before it looks at a byte.  The caplen sum is
 * printed so the loop cannot be optimised away, and doubles as a cheap
 * checksum of the capture's framing.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <pcap/pcap.h>

int main(int argc, char **argv)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: readloop FILE\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], errbuf);
    if (!p) {
        fprintf(stderr, "readloop: %s\n", errbuf);
        return 2;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, sum = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        sum += h->caplen;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "readloop: %s: packet %" PRIu64 ": %s\n", argv[1], packets + 1, pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    printf("packets %" PRIu64 " caplen_sum %" PRIu64 "\n", packets, sum);
    return 0;
}
