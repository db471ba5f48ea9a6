"""Reads and rewrites the end-of-allocation address (EOA) and the status
flags in the version 2 or 3 superblock of an HDF5 file, to make the files a
killed writer can leave: blocks written past the EOA the superblock records
(killed inside a flush), the file marked open for writing without SWMR
(killed in a resume's set-up).

Layout (HDF5 file format specification, superblock version 2 and 3):
signature (8 bytes), version, size of offsets, size of lengths, flags,
then four addresses (base, superblock extension, end of file, root group
object header) and a Jenkins lookup3 checksum of everything before it."""
import struct

M32 = 0xFFFFFFFF
SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _rot(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


def lookup3(data, init=0):
    """Bob Jenkins' hashlittle (lookup3.c) of bytes, as HDF5 checksums
    its metadata."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + init) & M32
    i = 0
    while n - i > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & M32
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & M32
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & M32
        a = (a - c) & M32; a ^= _rot(c, 4); c = (c + b) & M32
        b = (b - a) & M32; b ^= _rot(a, 6); a = (a + c) & M32
        c = (c - b) & M32; c ^= _rot(b, 8); b = (b + a) & M32
        a = (a - c) & M32; a ^= _rot(c, 16); c = (c + b) & M32
        b = (b - a) & M32; b ^= _rot(a, 19); a = (a + c) & M32
        c = (c - b) & M32; c ^= _rot(b, 4); b = (b + a) & M32
        i += 12
    if n == i:
        return c
    tail = data[i:] + bytes(12 - (n - i))
    a = (a + int.from_bytes(tail[0:4], "little")) & M32
    b = (b + int.from_bytes(tail[4:8], "little")) & M32
    c = (c + int.from_bytes(tail[8:12], "little")) & M32
    c ^= b; c = (c - _rot(b, 14)) & M32
    a ^= c; a = (a - _rot(c, 11)) & M32
    b ^= a; b = (b - _rot(a, 25)) & M32
    c ^= b; c = (c - _rot(b, 16)) & M32
    a ^= c; a = (a - _rot(c, 4)) & M32
    b ^= a; b = (b - _rot(a, 14)) & M32
    c ^= b; c = (c - _rot(b, 24)) & M32
    return c


def _read(path):
    with open(path, "rb") as f:
        head = bytearray(f.read(48))
    if head[:8] != SIGNATURE or head[8] not in (2, 3) or head[9] != 8:
        raise ValueError(f"{path}: not an HDF5 file with a version 2/3 superblock and 8-byte addresses")
    if struct.unpack("<I", head[44:48])[0] != lookup3(bytes(head[:44])):
        raise ValueError(f"{path}: superblock checksum does not match")
    return head


def eoa(path):
    return struct.unpack("<Q", _read(path)[28:36])[0]


def _rewrite(path, offset, data):
    head = _read(path)
    head[offset:offset + len(data)] = data
    head[44:48] = struct.pack("<I", lookup3(bytes(head[:44])))
    with open(path, "r+b") as f:
        f.write(head)


def set_eoa(path, value):
    _rewrite(path, 28, struct.pack("<Q", value))


def set_flags(path, value):
    """The file consistency flags: bit 0 open for writing, bit 2 open for
    SWMR writing (a killed SWMR writer leaves 5, a writer killed before it
    started SWMR 1)."""
    _rewrite(path, 11, bytes([value]))
