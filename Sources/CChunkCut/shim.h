#pragma once
// Content-defined chunking (FastCDC with normalized chunking, Xia et al. 2016):
// the one per-byte loop of format v2, kept in C so that it runs at memory
// speed in every build. The gear table is keyed per repository (see
// ChunkKey.swift), so the cut points do not fingerprint the content.
#include <stddef.h>
#include <stdint.h>

// The length of the first chunk of `data[0..<count]`: no cut before `minimum`
// bytes, at most `maximum`; before `normal` bytes a cut needs the stricter
// mask `strict` to be zero in the rolling hash, after it the looser `loose`.
// `count` less than `maximum` must mean the end of the stream (the whole rest
// may then be one chunk): the caller buffers `maximum` bytes otherwise.
static inline size_t coffer_chunk_cut(
    const uint8_t *data, size_t count, const uint64_t *gear,
    size_t minimum, size_t normal, size_t maximum, uint64_t strict, uint64_t loose) {
    if (count <= minimum) return count;
    if (count > maximum) count = maximum;
    size_t middle = normal < count ? normal : count;
    uint64_t hash = 0;
    size_t index = minimum;
    for (; index < middle; index++) {
        hash = (hash << 1) + gear[data[index]];
        if (!(hash & strict)) return index + 1;
    }
    for (; index < count; index++) {
        hash = (hash << 1) + gear[data[index]];
        if (!(hash & loose)) return index + 1;
    }
    return count;
}
