"""pcapgen.py - what the capture generators under tests/ share: the Internet
checksum and IPv4 address bytes.  Each generator builds its own frames (their
option layouts differ on purpose) and imports these:

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
    from pcapgen import csum, ip4
"""

import struct


def csum(data):
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(addr):
    """Dotted IPv4 text to its 4 bytes."""
    return bytes(int(x) for x in addr.split("."))
