/* Kafka record batches (magic v2, uncompressed) -> riftdrill's replay columns.
 *
 * The verifier's raw fetch reader (riftdrill/verify/fetch.py) hands this the `records` bytes of
 * one partition from a Fetch response. Per record it needs the offset and, for a riftdrill
 * record (value = "RDR1" | producer id u64 | seq u64 | send ns u64 | crc32 u32 | payload), the
 * header fields and whether crc32(payload) matches: in Python that is ~3 us a record, here it is
 * the cost of the crc. Everything else (fences, foreign records, null values) is marked for
 * Python to look at by its position. Every length is bounds-checked: a malformed batch returns
 * an error and the partition is read again by librdkafka, never judged from a guess.
 *
 * Built by riftdrill.native (cc -O2 -shared), loaded with ctypes; crc32 is zlib's.
 */
#include <stdint.h>
#include <string.h>

unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);

enum {
    RD_KIND_OK = 0,      /* riftdrill record, payload matches its checksum */
    RD_KIND_BAD_CRC = 1, /* riftdrill record, payload does not match */
    RD_KIND_OTHER = 2,   /* anything else: Python reads value_pos/value_len */
    RD_KIND_NULL = 3,    /* null value */
};

enum {
    RD_ERR_CAPACITY = -1,
    RD_ERR_MAGIC = -2,      /* not a v2 batch */
    RD_ERR_COMPRESSED = -3, /* compressed batch: librdkafka reads this partition */
    RD_ERR_MALFORMED = -4,
};

#define BATCH_HEADER 61
#define HEADER_SIZE 32

static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t be64(const uint8_t *p) {
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* Zigzag varint (Kafka's varint/varlong); 0 on overrun. */
static inline int varint(const uint8_t **p, const uint8_t *end, int64_t *out) {
    uint64_t v = 0;
    int shift = 0;
    while (*p < end && shift < 64) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 1;
        }
        shift += 7;
    }
    return 0;
}

/* Records in the complete batches at the start of buf; *complete = their bytes. */
int64_t rd_count(const uint8_t *buf, int64_t len, int64_t *complete) {
    int64_t pos = 0, n = 0;
    while (pos + BATCH_HEADER <= len) {
        int64_t blen = (int32_t)be32(buf + pos + 8);
        if (blen < BATCH_HEADER - 12 || pos + 12 + blen > len)
            break; /* a fetch cuts its last batch short */
        n += (int32_t)be32(buf + pos + 57);
        pos += 12 + blen;
    }
    *complete = pos;
    return n;
}

/* Decode the complete batches of buf[0:len] into the columns (capacity cap). Records below
 * min_offset are skipped: a fetch returns whole batches, and the one holding the fetch offset
 * may start before it (after DeleteRecords, for one). Returns the number of records written or
 * an RD_ERR_*; *next_offset is one past the last batch's last offset (control batches and empty
 * batches included), -1 if there was none. */
int64_t rd_decode(const uint8_t *buf, int64_t len, int64_t min_offset, int64_t cap,
                  int64_t *offsets,
                  uint64_t *producer_ids, uint64_t *seqs, uint64_t *send_ns, uint32_t *checksums,
                  uint8_t *kinds, int64_t *value_pos, int32_t *value_len, int64_t *next_offset) {
    static const uint8_t magic[4] = {'R', 'D', 'R', '1'};
    int64_t pos = 0, n = 0;
    *next_offset = -1;
    while (pos + BATCH_HEADER <= len) {
        const uint8_t *b = buf + pos;
        int64_t base = (int64_t)be64(b);
        int64_t blen = (int32_t)be32(b + 8);
        if (blen < BATCH_HEADER - 12 || pos + 12 + blen > len)
            break;
        if (b[16] != 2)
            return RD_ERR_MAGIC;
        uint16_t attributes = (uint16_t)((b[21] << 8) | b[22]);
        int64_t last_delta = (int32_t)be32(b + 23);
        int64_t count = (int32_t)be32(b + 57);
        const uint8_t *p = b + BATCH_HEADER, *end = b + 12 + blen;
        if (!(attributes & 0x20)) { /* control batches (commit/abort markers) hold no records */
            if (attributes & 0x07)
                return RD_ERR_COMPRESSED;
            if (count < 0 || n + count > cap)
                return count < 0 ? RD_ERR_MALFORMED : RD_ERR_CAPACITY;
            for (int64_t i = 0; i < count; i++) {
                int64_t rlen, ts_delta, off_delta, klen, vlen;
                if (!varint(&p, end, &rlen) || rlen < 0 || rlen > end - p)
                    return RD_ERR_MALFORMED;
                const uint8_t *rend = p + rlen;
                p++; /* record attributes */
                if (p > rend || !varint(&p, rend, &ts_delta) || !varint(&p, rend, &off_delta) ||
                    !varint(&p, rend, &klen) || klen > rend - p)
                    return RD_ERR_MALFORMED;
                if (klen > 0)
                    p += klen;
                if (!varint(&p, rend, &vlen) || vlen > rend - p)
                    return RD_ERR_MALFORMED;
                if (base + off_delta < min_offset) {
                    p = rend;
                    continue;
                }
                offsets[n] = base + off_delta;
                value_pos[n] = p - buf;
                value_len[n] = vlen < 0 ? -1 : (int32_t)vlen;
                if (vlen < 0) {
                    kinds[n] = RD_KIND_NULL;
                } else if (vlen >= HEADER_SIZE && memcmp(p, magic, 4) == 0) {
                    producer_ids[n] = be64(p + 4);
                    seqs[n] = be64(p + 12);
                    send_ns[n] = be64(p + 20);
                    checksums[n] = be32(p + 28);
                    uint32_t crc = (uint32_t)crc32(0UL, p + HEADER_SIZE,
                                                   (unsigned int)(vlen - HEADER_SIZE));
                    kinds[n] = crc == checksums[n] ? RD_KIND_OK : RD_KIND_BAD_CRC;
                } else {
                    kinds[n] = RD_KIND_OTHER;
                }
                n++;
                p = rend; /* headers are not read */
            }
        }
        *next_offset = base + last_delta + 1;
        pos += 12 + blen;
    }
    return n;
}

/* Ledger entries (riftdrill.load.ledger: `size` bytes each, a little-endian crc32 of the rest in
 * their last 4 bytes): the index of the first entry whose crc does not match, or n if all do. */
int64_t rd_first_bad_entry(const uint8_t *buf, int64_t n, int64_t size) {
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *e = buf + i * size;
        uint32_t want = (uint32_t)e[size - 4] | ((uint32_t)e[size - 3] << 8) |
                        ((uint32_t)e[size - 2] << 16) | ((uint32_t)e[size - 1] << 24);
        if ((uint32_t)crc32(0UL, e, (unsigned int)(size - 4)) != want)
            return i;
    }
    return n;
}
