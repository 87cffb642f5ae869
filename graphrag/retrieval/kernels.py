"""The ranking's arithmetic loops, compiled with numba and run without the GIL.

Why compiled: at 8 clients the API was bound by the GIL, not by the cores. A quarter of the two cores
sat idle while a question held the GIL for about 16 ms, half of it in the ranking's numpy calls on
arrays of a few thousand entries, each call short enough that its fixed cost was most of its time.
Here the transition matrix and the PageRank are one compiled call each, released from the GIL, so
other requests' parsing, encoding and I/O run beside them.

Why these loops and not scipy's: each one performs the same floating-point operations in the same
order as the numpy and scipy forms it replaced (per row sums in stored order, `np.bincount`'s sums
in entry order, numpy's pairwise summation for `ndarray.sum`), so a score is the same to the last
bit and so is every ranking (tests compare them with the scipy forms).

`cache=True`: the machine code is written beside this file (or to `NUMBA_CACHE_DIR`) on first use,
so a later start loads it instead of compiling again.
"""

from __future__ import annotations

import numba
import numpy as np

_PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE


@numba.njit(nogil=True, cache=True)
def pairwise_sum(a: np.ndarray) -> float:
    """`a.sum()` for a 1-d float64 array, as numpy adds it: numpy halves the range (at a multiple of 8)
    until a part holds at most 128 values, adds each part with eight accumulators, and adds the halves.

    The halving is walked with a stack, not recursion: numba's cache cannot load a recursive function
    (the process crashed at the first call after a cached start).
    """
    n = len(a)
    if n <= _PAIRWISE_BLOCK:
        return 0.0 + _block_sum(a, 0, n)  # numpy starts its reduction at the identity, 0.0
    # frames (start, length, halves pushed); sums of finished parts on their own stack, left below right
    starts = np.empty(64, dtype=np.int64)
    lengths = np.empty(64, dtype=np.int64)
    split = np.zeros(64, dtype=np.bool_)
    sums = np.empty(64)
    top, done = 0, 0
    starts[0], lengths[0] = 0, n
    while top >= 0:
        start, length = starts[top], lengths[top]
        if length <= _PAIRWISE_BLOCK:
            sums[done] = _block_sum(a, start, length)
            done += 1
            top -= 1
        elif split[top]:
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
        else:
            split[top] = True
            half = length // 2
            half -= half % 8
            starts[top + 1], lengths[top + 1], split[top + 1] = start + half, length - half, False
            starts[top + 2], lengths[top + 2], split[top + 2] = start, half, False
            top += 2
    return 0.0 + sums[0]


@numba.njit(nogil=True, cache=True)
def _block_sum(a: np.ndarray, start: int, n: int) -> float:
    """numpy's sum of a part of at most 128 values."""
    if n < 8:
        res = -0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    last = n - n % 8
    while i < last:
        at = start + i
        r0 += a[at]
        r1 += a[at + 1]
        r2 += a[at + 2]
        r3 += a[at + 3]
        r4 += a[at + 4]
        r5 += a[at + 5]
        r6 += a[at + 6]
        r7 += a[at + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@numba.njit(nogil=True, cache=True)
def personalized_pagerank(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, reset: np.ndarray,
                          damping: float, iterations: int, tol: float, dangling: np.ndarray,
                          start: np.ndarray) -> np.ndarray:
    """Power iteration of p = (1 - d) r + d (P p + dangling mass x r); see `pagerank.py`.

    `start` empty: start from r. Each row of P is summed in stored order from 0.0 (scipy's `csr_matvec`).
    """
    n = len(reset)
    r = reset / pairwise_sum(reset)
    restart = (1 - damping) * r
    p = start / max(pairwise_sum(start), 1e-300) if len(start) else r.copy()
    nxt = np.empty(n)
    lost = np.empty(len(dangling))
    diff = np.empty(n)
    for _ in range(iterations):
        for i in range(len(dangling)):
            lost[i] = p[dangling[i]]
        spread = pairwise_sum(lost)
        for i in range(n):
            total = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                total += data[k] * p[indices[k]]
            value = (total + spread * r[i]) * damping + restart[i]
            nxt[i] = value
            diff[i] = abs(value - p[i])
        if pairwise_sum(diff) < tol:
            return nxt
        p, nxt = nxt, p
    return p


@numba.njit(nogil=True, cache=True)
def transition(n_c: int, n_e: int, inc_ptr: np.ndarray, inc_idx: np.ndarray, inc_data: np.ndarray,
               title_rows: np.ndarray, title_cols: np.ndarray, title_bonus: float, mention_scale: np.ndarray,
               keep: np.ndarray, rel_ptr: np.ndarray, rel_idx: np.ndarray, rel_data: np.ndarray,
               same_ptr: np.ndarray, same_idx: np.ndarray, same_data: np.ndarray, use_same: bool,
               related_degree: np.ndarray, related: float, complete: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The transition matrix (indptr, indices, data) and dangling nodes of `LocalGraph.transition`.

    Inputs are canonical CSR arrays (sorted, no duplicates): the incidence (n_c x n_e), the weighted
    co-occurrence (`rel_*`, empty indptr for none) and SAME_AS (`same_*`, empty for none) blocks.
    `mention_scale` and `keep` are per entity, empty when unused; `related_degree` is empty when
    co-occurrence is off. `complete` flags every node, chunks first.
    """
    n = n_c + n_e
    # the incidence's weights: the title edges' bonus, the mention idf, the kept types
    values = inc_data.astype(np.float64)
    for t in range(len(title_rows)):
        row, col = title_rows[t], title_cols[t]
        for k in range(inc_ptr[row], inc_ptr[row + 1]):
            if inc_idx[k] == col:
                values[k] += title_bonus
                break
    if len(mention_scale):
        for k in range(len(values)):
            values[k] *= mention_scale[inc_idx[k]]
    if len(keep):
        for k in range(len(values)):
            values[k] *= keep[inc_idx[k]]
    # the entity-entity block: co-occurrence plus SAME_AS (scipy's canonical sum), less skipped types
    has_rel = len(rel_ptr) > 0
    has_same = len(same_ptr) > 0
    ee_ptr = np.zeros(n_e + 1, dtype=np.int64)
    ee_idx = np.empty((rel_ptr[n_e] if has_rel else 0) + (same_ptr[n_e] if has_same else 0), dtype=np.int64)
    ee_data = np.empty(len(ee_idx))
    m = 0
    for j in range(n_e):
        a, a_end = (rel_ptr[j], rel_ptr[j + 1]) if has_rel else (0, 0)
        b, b_end = (same_ptr[j], same_ptr[j + 1]) if has_same else (0, 0)
        while a < a_end or b < b_end:
            if b >= b_end or (a < a_end and rel_idx[a] < same_idx[b]):
                col, value = rel_idx[a], rel_data[a]
                a += 1
            elif a >= a_end or same_idx[b] < rel_idx[a]:
                col, value = same_idx[b], same_data[b]
                b += 1
            else:
                col, value = rel_idx[a], rel_data[a] + same_data[b]
                a += 1
                b += 1
            if has_rel and has_same and value == 0:
                continue  # scipy's sum drops the zeros it makes
            if len(keep):
                value = keep[j] * value * keep[col]
            ee_idx[m] = col
            ee_data[m] = value
            m += 1
        ee_ptr[j + 1] = m
    # the whole adjacency [[0, incidence], [incidence.T, ee]], zeros dropped: chunk rows hold their
    # incidence row, entity rows their incidence column (chunks ascending), then their ee row
    col_count = np.zeros(n_e + 1, dtype=np.int64)
    for k in range(len(inc_idx)):
        col_count[inc_idx[k] + 1] += 1
    col_ptr = np.cumsum(col_count)
    col_rows = np.empty(len(inc_idx), dtype=np.int64)
    col_vals = np.empty(len(inc_idx))
    fill = col_ptr[:-1].copy()
    for i in range(n_c):
        for k in range(inc_ptr[i], inc_ptr[i + 1]):
            at = fill[inc_idx[k]]
            col_rows[at] = i
            col_vals[at] = values[k]
            fill[inc_idx[k]] += 1
    size = 2 * len(inc_idx) + m
    adj_ptr = np.zeros(n + 1, dtype=np.int64)
    adj_idx = np.empty(size, dtype=np.int64)
    adj_data = np.empty(size)
    m = 0
    for i in range(n_c):
        for k in range(inc_ptr[i], inc_ptr[i + 1]):
            if values[k] != 0:
                adj_idx[m] = inc_idx[k] + n_c
                adj_data[m] = values[k]
                m += 1
        adj_ptr[i + 1] = m
    for j in range(n_e):
        for k in range(col_ptr[j], col_ptr[j + 1]):
            if col_vals[k] != 0:
                adj_idx[m] = col_rows[k]
                adj_data[m] = col_vals[k]
                m += 1
        for k in range(ee_ptr[j], ee_ptr[j + 1]):
            if ee_data[k] != 0:
                adj_idx[m] = ee_idx[k] + n_c
                adj_data[m] = ee_data[k]
                m += 1
        adj_ptr[n_c + j + 1] = m
    # degrees: a complete chunk's local one; a complete entity's over the whole graph
    local = np.zeros(n)
    for k in range(m):
        local[adj_idx[k]] += adj_data[k]
    degree = np.zeros(n)
    for i in range(n_c):
        if complete[i]:
            degree[i] = local[i]
    entity_degree = np.zeros(n_e)
    for k in range(len(inc_idx)):
        entity_degree[inc_idx[k]] += values[k]
    if len(related_degree):
        for j in range(n_e):
            entity_degree[j] = entity_degree[j] + related * related_degree[j]
    if use_same:
        same_sum = np.zeros(n_e)
        if has_same:
            for j in range(n_e):
                for k in range(same_ptr[j], same_ptr[j + 1]):
                    same_sum[j] += same_data[k]
        for j in range(n_e):
            entity_degree[j] = entity_degree[j] + same_sum[j]
    if len(keep):
        for j in range(n_e):
            entity_degree[j] = entity_degree[j] * keep[j]
    for j in range(n_e):
        if complete[n_c + j]:
            degree[n_c + j] = entity_degree[j]
    # each entry over its column's degree; a row's entries reversed (scipy's product wrote them so)
    out_ptr = np.zeros(n + 1, dtype=np.int32)
    out_idx = np.empty(m, dtype=np.int32)
    out_data = np.empty(m)
    m = 0
    for i in range(n):
        for k in range(adj_ptr[i + 1] - 1, adj_ptr[i] - 1, -1):
            d = degree[adj_idx[k]]
            scaled = adj_data[k] * (1.0 / d if d > 0 else 0.0)
            if scaled != 0:
                out_idx[m] = adj_idx[k]
                out_data[m] = scaled
                m += 1
        out_ptr[i + 1] = m
    dangling_count = 0
    for x in range(n):
        if complete[x] and degree[x] == 0:
            dangling_count += 1
    dangling = np.empty(dangling_count, dtype=np.int64)
    dangling_count = 0
    for x in range(n):
        if complete[x] and degree[x] == 0:
            dangling[dangling_count] = x
            dangling_count += 1
    return out_ptr, out_idx[:m], out_data[:m], dangling


# --- one question's neighbourhood as arrays (`Neighbourhood.graph`) --------------------------------------
# Ids and positions are kept in open-addressing hash tables: keys (non-negative int64, -1 for an empty
# slot) and a value per slot. A neighbourhood is a few thousand nodes and mentions, so it is assembled
# from everything read so far at each of a question's graphs (tens of microseconds), not merged.

_SHIFT = 21  # positions below 2**21 (a neighbourhood is a few thousand nodes) pack two or three to an int64


@numba.njit(nogil=True, cache=True)
def _new_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    capacity = 16
    while capacity < 2 * n:
        capacity *= 2
    return np.full(capacity, -1, dtype=np.int64), np.empty(capacity, dtype=np.int64)


@numba.njit(nogil=True, cache=True)
def _slot(keys: np.ndarray, key: int) -> int:
    """The slot holding `key`, or the empty one where it would go."""
    mask = len(keys) - 1
    at = (key * -7046029254386353131) & mask  # Fibonacci hashing (the golden ratio's 64-bit multiplier)
    while keys[at] != -1 and keys[at] != key:
        at = (at + 1) & mask
    return at


@numba.njit(nogil=True, cache=True)
def _positions(stream: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Give each id of `stream` not in the table the next position (first arrival first); the ids
    in position order."""
    ids = np.empty(len(stream), dtype=np.int64)
    n = 0
    for x in stream:
        at = _slot(keys, x)
        if keys[at] == -1:
            keys[at] = x
            values[at] = n
            ids[n] = x
            n += 1
    return ids[:n]


@numba.njit(nogil=True, cache=True)
def _find(keys: np.ndarray, values: np.ndarray, key: int) -> int:
    """The value of `key`, -1 when absent."""
    at = _slot(keys, key)
    return values[at] if keys[at] == key else -1


@numba.njit(nogil=True, cache=True)
def contains(stream: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Which of `wanted` occur in `stream`."""
    keys, values = _new_table(len(stream))
    _positions(stream, keys, values)
    out = np.empty(len(wanted), dtype=np.bool_)
    for i in range(len(wanted)):
        out[i] = keys[_slot(keys, wanted[i])] == wanted[i]
    return out


@numba.njit(nogil=True, cache=True)
def _csr(codes: np.ndarray, data: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (int32 indices, as scipy keeps them) of cells `row << _SHIFT | col`, sorted, unique."""
    order = np.argsort(codes, kind="mergesort")
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    indices = np.empty(len(codes), dtype=np.int32)
    values = np.empty(len(codes))
    mask = (1 << _SHIFT) - 1
    for k in range(len(order)):
        code = codes[order[k]]
        indptr[(code >> _SHIFT) + 1] += 1
        indices[k] = code & mask
        values[k] = data[order[k]]
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    return indptr, indices, values


@numba.njit(nogil=True, cache=True)
def nodes(chunk_stream: np.ndarray, entity_stream: np.ndarray) -> tuple[np.ndarray, ...]:
    """Chunk and entity positions, first arrival first: the ids in position order and each kind's table."""
    chunk_keys, chunk_values = _new_table(len(chunk_stream))
    chunks = _positions(chunk_stream, chunk_keys, chunk_values)
    entity_keys, entity_values = _new_table(len(entity_stream))
    entities = _positions(entity_stream, entity_keys, entity_values)
    return chunks, chunk_keys, chunk_values, entities, entity_keys, entity_values


@numba.njit(nogil=True, cache=True)
def assemble(n_c: int, chunk_keys: np.ndarray, chunk_values: np.ndarray, n_e: int, entity_keys: np.ndarray,
             entity_values: np.ndarray, m_chunk: np.ndarray, m_entity: np.ndarray, partners: np.ndarray,
             lengths: np.ndarray, same_a: np.ndarray, same_b: np.ndarray, same_sim: np.ndarray,
             title_entity: np.ndarray) -> tuple[np.ndarray, ...]:
    """The read mentions and SAME_AS edges as a `LocalGraph`'s matrices (see `Neighbourhood`).

    A (chunk, entity) mention counts once, with the partners of its first read. A co-occurring pair
    weighs the distinct chunks whose kept mentions pair the two; a partner without a position makes
    no pair. A SAME_AS pair takes its last read's similarity (a pair with itself counts twice, as
    `M + M.T` would). `title_entity` is each chunk's title entity id (-1: none); a title edge is
    kept where that mention was read. Returns the incidence, co-occurrence and SAME_AS CSR arrays
    (indptr, indices, data each) and the title edges' chunk and entity positions.
    """
    mask = (1 << _SHIFT) - 1
    # mentions: the first read of each (chunk, entity)
    mention_keys, mention_values = _new_table(len(m_chunk))
    kept_codes = np.empty(len(m_chunk), dtype=np.int64)
    starts = np.empty(len(m_chunk) + 1, dtype=np.int64)
    starts[0] = 0
    for i in range(len(m_chunk)):
        starts[i + 1] = starts[i] + lengths[i]
    pair_codes = np.empty(len(partners), dtype=np.int64)
    n_kept, n_pairs = 0, 0
    for i in range(len(m_chunk)):
        row = _find(chunk_keys, chunk_values, m_chunk[i])
        col = _find(entity_keys, entity_values, m_entity[i])
        code = (row << _SHIFT) | col
        at = _slot(mention_keys, code)
        if mention_keys[at] != -1:
            continue
        mention_keys[at] = code
        mention_values[at] = n_kept
        kept_codes[n_kept] = code
        n_kept += 1
        for k in range(starts[i], starts[i + 1]):
            other = _find(entity_keys, entity_values, partners[k])
            if other < 0 or other == col:
                continue
            low, high = min(col, other), max(col, other)
            pair_codes[n_pairs] = (low << (2 * _SHIFT)) | (high << _SHIFT) | row
            n_pairs += 1
    inc_ptr, inc_idx, inc_data = _csr(kept_codes[:n_kept], np.ones(n_kept), n_c)
    # co-occurrence: distinct (low, high, chunk) codes, counted per (low, high), both ways
    pairs = np.sort(pair_codes[:n_pairs])
    cells = np.empty(2 * n_pairs, dtype=np.int64)
    counts = np.empty(2 * n_pairs)
    n_cells = 0
    k = 0
    while k < n_pairs:
        cell = pairs[k] >> _SHIFT
        count = 0.0
        last = -1
        while k < n_pairs and pairs[k] >> _SHIFT == cell:
            if pairs[k] != last:
                count += 1.0
                last = pairs[k]
            k += 1
        low, high = cell >> _SHIFT, cell & mask
        cells[n_cells], counts[n_cells] = (low << _SHIFT) | high, count
        cells[n_cells + 1], counts[n_cells + 1] = (high << _SHIFT) | low, count
        n_cells += 2
    rel_ptr, rel_idx, rel_data = _csr(cells[:n_cells], counts[:n_cells], n_e)
    # SAME_AS: the last read of each pair wins
    seen_keys, seen_values = _new_table(len(same_a))
    same_cells = np.empty(2 * len(same_a), dtype=np.int64)
    same_values = np.empty(2 * len(same_a))
    n_same = 0
    for i in range(len(same_a) - 1, -1, -1):
        a = max(_find(entity_keys, entity_values, same_a[i]), 0)
        b = max(_find(entity_keys, entity_values, same_b[i]), 0)
        low, high = min(a, b), max(a, b)
        at = _slot(seen_keys, (low << _SHIFT) | high)
        if seen_keys[at] != -1:
            continue
        seen_keys[at] = (low << _SHIFT) | high
        seen_values[at] = 0
        if low == high:
            value = 0.0 + same_sim[i] + same_sim[i]
            if value != 0:
                same_cells[n_same], same_values[n_same] = (low << _SHIFT) | low, value
                n_same += 1
        elif same_sim[i] != 0:
            same_cells[n_same], same_values[n_same] = (low << _SHIFT) | high, same_sim[i]
            same_cells[n_same + 1], same_values[n_same + 1] = (high << _SHIFT) | low, same_sim[i]
            n_same += 2
    same_ptr, same_idx, same_data = _csr(same_cells[:n_same], same_values[:n_same], n_e)
    # title edges, in chunk order
    title_rows = np.empty(n_c, dtype=np.int64)
    title_cols = np.empty(n_c, dtype=np.int64)
    n_titles = 0
    for row in range(n_c):
        if title_entity[row] < 0:
            continue
        col = _find(entity_keys, entity_values, title_entity[row])
        if col >= 0 and _find(mention_keys, mention_values, (row << _SHIFT) | col) >= 0:
            title_rows[n_titles], title_cols[n_titles] = row, col
            n_titles += 1
    return (inc_ptr, inc_idx, inc_data, rel_ptr, rel_idx, rel_data, same_ptr, same_idx, same_data,
            title_rows[:n_titles], title_cols[:n_titles])


@numba.njit(nogil=True, cache=True)
def flags(ids: np.ndarray, keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per position of a node table, whether its id is among `ids`."""
    out = np.zeros(n, dtype=np.bool_)
    for x in ids:
        at = _find(keys, values, x)
        if at >= 0:
            out[at] = True
    return out


@numba.njit(nogil=True, cache=True)
def degrees(ids: np.ndarray, values: np.ndarray, keys: np.ndarray, table: np.ndarray, n: int) -> np.ndarray:
    """(3, n): each positioned entity's co-occurrence degrees (`values` rows, by `ids`; the last wins)."""
    out = np.zeros((3, n))
    for i in range(len(ids)):
        at = _find(keys, table, ids[i])
        if at >= 0:
            out[0, at], out[1, at], out[2, at] = values[i, 0], values[i, 1], values[i, 2]
    return out



# --- cached entries, unpacked (`entries.py`'s packed layouts) -------------------------------------------

@numba.njit(nogil=True, cache=True)
def unpack_chunks(packed: np.ndarray) -> tuple[np.ndarray, ...]:
    """Concatenated `ChunkEntry` arrays as mention columns: chunk, entity, partners, partners per mention."""
    n_mentions, n_partners, at = 0, 0, 0
    while at < len(packed):
        n_mentions += packed[at + 1]
        n_partners += packed[at + 2]
        at += 3 + 2 * packed[at + 1] + packed[at + 2]
    chunks = np.empty(n_mentions, dtype=np.int64)
    entities = np.empty(n_mentions, dtype=np.int64)
    lengths = np.empty(n_mentions, dtype=np.int64)
    partners = np.empty(n_partners, dtype=np.int64)
    m, p, at = 0, 0, 0
    while at < len(packed):
        chunk, count, width = packed[at], packed[at + 1], packed[at + 2]
        body = at + 3
        for i in range(count):
            chunks[m + i] = chunk
            entities[m + i] = packed[body + i]
            lengths[m + i] = packed[body + count + i]
        for i in range(width):
            partners[p + i] = packed[body + 2 * count + i]
        m += count
        p += width
        at = body + 2 * count + width
    return chunks, entities, partners, lengths


@numba.njit(nogil=True, cache=True)
def unpack_entities(packed: np.ndarray) -> tuple[np.ndarray, ...]:
    """Concatenated `EntityEntry` arrays: the entities; their mentions (chunk, entity, partners, partners
    per mention); their SAME_AS edges (entity, other, similarity); and their degrees (entities x 3)."""
    n, n_mentions, n_partners, n_same, at = 0, 0, 0, 0, 0
    while at < len(packed):
        n += 1
        n_mentions += packed[at + 1]
        n_partners += packed[at + 2]
        n_same += packed[at + 3]
        at += 4 + 2 * packed[at + 1] + packed[at + 2] + 2 * packed[at + 3] + 3
    floats = packed.view(np.float64)
    own = np.empty(n, dtype=np.int64)
    chunks = np.empty(n_mentions, dtype=np.int64)
    entities = np.empty(n_mentions, dtype=np.int64)
    lengths = np.empty(n_mentions, dtype=np.int64)
    partners = np.empty(n_partners, dtype=np.int64)
    same_own = np.empty(n_same, dtype=np.int64)
    same_other = np.empty(n_same, dtype=np.int64)
    similarity = np.empty(n_same)
    degrees = np.empty((n, 3))
    e, m, p, s, at = 0, 0, 0, 0, 0
    while at < len(packed):
        entity, count, width, synonyms = packed[at], packed[at + 1], packed[at + 2], packed[at + 3]
        own[e] = entity
        body = at + 4
        for i in range(count):
            chunks[m + i] = packed[body + i]
            entities[m + i] = entity
            lengths[m + i] = packed[body + count + i]
        body += 2 * count
        for i in range(width):
            partners[p + i] = packed[body + i]
        body += width
        for i in range(synonyms):
            same_own[s + i] = entity
            same_other[s + i] = packed[body + i]
            similarity[s + i] = floats[body + synonyms + i]
        body += 2 * synonyms
        for k in range(3):
            degrees[e, k] = floats[body + k]
        e += 1
        m += count
        p += width
        s += synonyms
        at = body + 3
    return own, chunks, entities, partners, lengths, same_own, same_other, similarity, degrees
