#!/bin/sh
# make-mixed.sh - regenerates the pcapng files that libpcap 1.10 refuses and
# tcpdoctor reads through libwiretap (tests/capture/test_wiretap.c).
#
# Usage: tests/capture/make-mixed.sh [OUTDIR]   (default: tests/data next to
# this script's directory, wherever it is run from)
# Needs Wireshark's text2pcap, editcap and mergecap (Debian: wireshark-common).
#
# Frames are hand-written IPv4/TCP SYNs (RFC 5737 documentation addresses)
# with correct IPv4 and TCP checksums:
#   A  Ethernet  192.0.2.1:40000 -> 198.51.100.7:80   SYN      (58 bytes)
#   B  raw IPv4  192.0.2.1:40001 -> 198.51.100.7:443  SYN      (44 bytes)
#   B' Ethernet  frame B behind an Ethernet header             (58 bytes)
#   C  Ethernet  198.51.100.7:80 -> 192.0.2.1:40000   SYN-ACK  (58 bytes)
# Outputs:
#   mixed-linktypes.pcapng            if0 Ethernet (A, C), if1 LINKTYPE_RAW (B)
#   mixed-linktypes-truncated.pcapng  the same, cut in the middle of its last
#                                     block (frame C)
#   mixed-snaplen.pcapng              if0 Ethernet snaplen 40 (A, C cut to 40
#                                     bytes), if1 Ethernet snaplen 262144 (B')
#   mixed-linktypes-many.pcapng       frame B behind six other link-layer
#                                     headers, one interface each, 1 us apart
#                                     from 12:00:01.000000001: NULL, LOOP,
#                                     LINUX_SLL, LINUX_SLL2, PPP_WITH_DIR, IPV4
#   mixed-linktypes-journal.pcapng    mixed-linktypes.pcapng plus, between A
#                                     and B, a systemd Journal Export Block: a
#                                     record that is not a packet (mergecap
#                                     also adds a third IDB, link type 65535,
#                                     for the journal "interface")
# Packets come out in time order: A, B, C.  The section header records the
# host's OS and mergecap's version, so regenerated files differ in those
# bytes only; the test does not depend on them.
set -eu

out=${1:-$(dirname "$0")/../data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# text2pcap reads the time stamps as local time.
TZ=UTC
export TZ
tfmt='%Y-%m-%d %H:%M:%S.%f'

cat >"$tmp/eth.txt" <<'HEX'
2024-03-01 12:00:00.000100123
0000  02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00
0010  00 2c 12 34 40 00 40 06 3c 5c c0 00 02 01 c6 33
0020  64 07 9c 40 00 50 01 02 03 04 00 00 00 00 60 02
0030  72 10 99 43 00 00 02 04 05 b4

2024-03-01 12:00:00.000300456
0000  02 00 00 00 00 01 02 00 00 00 00 02 08 00 45 00
0010  00 2c 00 00 40 00 40 06 4e 90 c6 33 64 07 c0 00
0020  02 01 00 50 9c 40 0a 0b 0c 0d 01 02 03 05 60 12
0030  fe 88 f6 a1 00 00 02 04 05 b4
HEX

cat >"$tmp/raw.txt" <<'HEX'
2024-03-01 12:00:00.000200789
0000  45 00 00 2c 56 78 40 00 40 06 f8 17 c0 00 02 01
0010  c6 33 64 07 9c 41 01 bb a0 b0 c0 d0 00 00 00 00
0020  60 02 72 10 3a 5c 00 00 02 04 05 b4
HEX

cat >"$tmp/eth-b.txt" <<'HEX'
2024-03-01 12:00:00.000200789
0000  02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00
0010  00 2c 56 78 40 00 40 06 f8 17 c0 00 02 01 c6 33
0020  64 07 9c 41 01 bb a0 b0 c0 d0 00 00 00 00 60 02
0030  72 10 3a 5c 00 00 02 04 05 b4
HEX

# A systemd journal export entry (https://systemd.io/JOURNAL_EXPORT_FORMATS/),
# time stamp in us between A and B; libwiretap reads it as its own format.
cat >"$tmp/journal.export" <<'TXT'
__CURSOR=s=0123456789abcdef0123456789abcdef;i=1;b=0123456789abcdef0123456789abcdef;m=1;t=5f0e1f7a5b2c0;x=1
__REALTIME_TIMESTAMP=1709294400000150
__MONOTONIC_TIMESTAMP=1000000
_BOOT_ID=0123456789abcdef0123456789abcdef
PRIORITY=6
MESSAGE=tcpdoctor test: a record that is not a packet

TXT

# nsecpcap: classic pcap with nanosecond time stamps (magic a1b23c4d).
text2pcap -q -F nsecpcap -l 1 -t "$tfmt" "$tmp/eth.txt" "$tmp/eth.pcap"
text2pcap -q -F nsecpcap -l 101 -t "$tfmt" "$tmp/raw.txt" "$tmp/raw.pcap"
text2pcap -q -F nsecpcap -l 1 -t "$tfmt" "$tmp/eth-b.txt" "$tmp/eth-b.pcap"
editcap -F nsecpcap -s 40 "$tmp/eth.pcap" "$tmp/eth-snap40.pcap"

# Different link types or snaplens keep the interfaces apart (mergecap's
# default IDB merge mode "all" only merges identical interfaces).
mergecap -F pcapng -w "$out/mixed-linktypes.pcapng" "$tmp/eth.pcap" "$tmp/raw.pcap"
mergecap -F pcapng -w "$out/mixed-snaplen.pcapng" "$tmp/eth-snap40.pcap" "$tmp/eth-b.pcap"
mergecap -F pcapng -w "$out/mixed-linktypes-journal.pcapng" "$tmp/eth.pcap" "$tmp/raw.pcap" \
    "$tmp/journal.export"

# Frame B (44 bytes) behind other link-layer headers, pcap-linktype(7):
#   0   NULL          AF_INET 2, host (little-endian) order
#   108 LOOP          AF_INET 2, network order
#   113 LINUX_SLL     to us, ARPHRD_ETHER, 6-byte address, ETH_P_IP
#   276 LINUX_SLL2    ETH_P_IP, ifindex 2, ARPHRD_ETHER, to us, 6-byte address
#   204 PPP_WITH_DIR  direction 0, PPP in HDLC framing ff 03, protocol IPv4 0021;
#                     the direction byte is libwiretap's PPP pseudo-header, so
#                     text2pcap writes it (as 00) and we give only the rest
#   228 IPV4          no header
ipv4=4500002c567840004006f817c0000201c63364079c4101bba0b0c0d000000000600272103a5c0000020405b4
n=0
for spec in \
    "0 02000000" \
    "108 00000002" \
    "113 0000 0001 0006 0200000000010000 0800" \
    "276 0800 0000 00000002 0001 00 06 0200000000010000" \
    "204 ff03 0021" \
    "228 "
do
    lt=${spec%% *}
    hdr=$(printf '%s' "${spec#* }" | tr -d ' ')
    n=$((n + 1))
    {
        echo "2024-03-01 12:00:01.00000${n}001"
        printf '0000 %s\n' "$(printf '%s%s' "$hdr" "$ipv4" | sed 's/../& /g')"
    } >"$tmp/lt$n.txt"
    text2pcap -q -F nsecpcap -l "$lt" -t "$tfmt" "$tmp/lt$n.txt" "$tmp/lt$n.pcap"
done
mergecap -F pcapng -w "$out/mixed-linktypes-many.pcapng" \
    "$tmp/lt1.pcap" "$tmp/lt2.pcap" "$tmp/lt3.pcap" "$tmp/lt4.pcap" "$tmp/lt5.pcap" "$tmp/lt6.pcap"

# Cut in the middle of the last block, which must be the Enhanced Packet
# Block (type 6) of frame C.  Lengths are in the writer's byte order, which
# is this host's, as od reads them.
f="$out/mixed-linktypes.pcapng"
size=$(wc -c <"$f")
last=$(tail -c 4 "$f" | od -An -tu4 | tr -d ' ')
type=$(tail -c "$last" "$f" | head -c 4 | od -An -tu4 | tr -d ' ')
if [ "$type" != 6 ]; then
    echo "make-mixed.sh: last block of $f has type $type, expected 6 (EPB)" >&2
    exit 1
fi
head -c $((size - last / 2)) "$f" >"$out/mixed-linktypes-truncated.pcapng"
