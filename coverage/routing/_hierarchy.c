/*
 * coverage.routing._hierarchy: contraction hierarchy (CH) build and queries, GIL released.
 *
 * Private module: call it through coverage.routing.hierarchy, which validates the
 * arguments, allocates the outputs whose sizes are known and splits query rows
 * across threads. Every function takes C-contiguous buffers (numpy arrays
 * through the buffer protocol; no numpy headers). Same conventions as _kernels.c.
 *
 * build(indptr, indices, weights, settle_limit, threads) -> dict
 *     Contract every node (see "build" below: rounds of independent nodes,
 *     priority = edge difference, depth and deleted neighbours, witness searches
 *     with a settle limit; a search cut short adds its shortcut, always safe).
 *     Returns the arrays as bytearrays (rank, order, up/down in node ids,
 *     rank_up/rank_down in ranks) and a "stats" dict. Deterministic: the same
 *     output for any number of threads.
 *
 * The queries read the rank-space arrays (row r = the node of rank r, neighbours
 * given by rank; int64 row pointers, int32 indices):
 *     rank_up    arcs r -> s with s > r, by r;
 *     rank_down  arcs s -> r with s > r, by r (stored at r as (r <- s)).
 * Seeds and targets are passed as ranks too.
 * backward(rank_up, rank_down, target rows, bound, col0) -> (node, col, dist)
 *     One backward upward search per target row (Dijkstra over rank_down from
 *     the row's nodes with their offsets, stall-on-demand over rank_up): the
 *     bucket entries, in row order, as bytearrays (int32, int32, float64).
 * bucket_sort(node, col, dist, out_ptr, out_col, out_dist)
 *     Counting sort of the entries by node into CSR buckets (stable).
 * scan(rank_up, rank_down, buckets, seed rows, bound, limit, ncols, out)
 *     One forward upward search per seed row (over rank_up, stall-on-demand over
 *     rank_down), scanning the bucket of every node it settles.
 * phast(rank_up, order, rank_down, seeds, labels, limit, reverse, out_dist, out_label)
 *     Upward search from all seeds with (dist, label) keys, then one sweep over
 *     the ranks in decreasing order; outputs by node id. Forward (distances from
 *     the seeds): the search follows rank_up, the sweep pulls each node's value
 *     from the tails of its rank_down arcs. Reverse (distances to the seeds, the
 *     forward query on the transposed graph): the search follows rank_down
 *     backwards (to the higher-ranked predecessors), the sweep pulls each node's
 *     value from the heads of its rank_up arcs.
 * search_space(rank_up, rank_down, nodes, backward, out_count)
 *     Nodes settled (not stalled) by a forward/backward search from each node.
 *
 * Searches use an indexed 4-ary heap over calloc'ed state (0 unseen, k > 0 in
 * the heap at slot k-1, -1 settled), so a call costs what it touches, not n.
 * Every arc scanned is checked (index in range, weight >= 0), every row span
 * read is checked, so malformed arrays raise ValueError and never read out of
 * bounds.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HIERARCHY_API 3

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define PREFETCH(p) __builtin_prefetch(p)
#elif defined(_MSC_VER)
#define ALWAYS_INLINE static __forceinline
#define PREFETCH(p) ((void)0)
#else
#define ALWAYS_INLINE static inline
#define PREFETCH(p) ((void)0)
#endif

#define BUF_MODULE "_hierarchy"
#include "_buffers.h"

/* ------------------------------------------------------------------------ */
/* CSR arrays, errors                                                        */
/* ------------------------------------------------------------------------ */

typedef struct {
    int64_t n, m;
    const int64_t *ptr;
    const int32_t *idx32; /* exactly one of idx32 / idx64 is set */
    const int64_t *idx64;
    const double *w;
    const char *name;
} csr_t;

enum {
    E_OK = 0, E_NOMEM, E_INDPTR, E_INDEX, E_WEIGHT, E_SEEDNODE, E_OFFSET, E_TOOBIG
};

typedef struct {
    int code;
    const char *what; /* array family: "graph", "rank_up", "rank_down", "buckets", ... */
    const char *seeds; /* "seed" or "target" for E_SEEDNODE / E_OFFSET */
    int64_t i;
    int64_t v;
    double x;
} kerr_t;

static PyObject *
raise_kerr(const char *func, const kerr_t *err)
{
    const char *what = err->what ? err->what : "graph";
    const char *seeds = err->seeds ? err->seeds : "seed";
    switch (err->code) {
    case E_NOMEM:
        return PyErr_NoMemory();
    case E_INDPTR:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): %s row pointer is not valid at row %lld (must be "
                            "non-decreasing and within the arcs)",
                            func, what, (long long)err->i);
    case E_INDEX:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): %s indices[%lld] = %lld is not a valid id here", func, what,
                            (long long)err->i, (long long)err->v);
    case E_WEIGHT: {
        char text[64];
        PyOS_snprintf(text, sizeof text, "%.17g", err->x);
        return PyErr_Format(PyExc_ValueError,
                            "%s(): %s weights[%lld] = %s; weights must be finite and >= 0", func,
                            what, (long long)err->i, text);
    }
    case E_SEEDNODE:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): %s_node[%lld] = %lld is not a node id (0 <= id < n)", func,
                            seeds, (long long)err->i, (long long)err->v);
    case E_OFFSET:
        return PyErr_Format(PyExc_ValueError, "%s(): %s_offset[%lld] is not finite", func, seeds,
                            (long long)err->i);
    case E_TOOBIG:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): too many arcs for int32 bookkeeping (a node with more than "
                            "2**31 arcs)",
                            func);
    default:
        return PyErr_Format(PyExc_RuntimeError, "%s(): internal error %d", func, err->code);
    }
}

/* A CSR triple; n < 0: any n (taken from ptr), else ptr must have n+1 entries. */
static int
get_csr(bufset_t *set, const char *func, const char *name, PyObject *o_ptr, PyObject *o_idx,
        PyObject *o_w, int64_t n, int idx_kinds, csr_t *c)
{
    char label[64];
    PyOS_snprintf(label, sizeof label, "%s_indptr", name);
    buf_t *bp = get_buf(set, o_ptr, func, label, K_I64, 0);
    if (!bp) return -1;
    PyOS_snprintf(label, sizeof label, "%s_indices", name);
    buf_t *bi = get_buf(set, o_idx, func, label, idx_kinds, 0);
    if (!bi) return -1;
    PyOS_snprintf(label, sizeof label, "%s_weights", name);
    buf_t *bw = get_buf(set, o_w, func, label, K_F64, 0);
    if (!bw) return -1;
    if (bp->len < 1) {
        PyErr_Format(PyExc_ValueError, "%s(): %s_indptr must have n+1 >= 1 entries", func, name);
        return -1;
    }
    if (n >= 0 && bp->len != n + 1) {
        PyErr_Format(PyExc_ValueError, "%s(): %s_indptr has %zd entries, expected n+1 = %lld",
                     func, name, bp->len, (long long)(n + 1));
        return -1;
    }
    c->n = bp->len - 1;
    c->m = bi->len;
    if (c->n > INT32_MAX - 1) {
        PyErr_Format(PyExc_ValueError, "%s(): graphs of more than %d nodes are not supported", func,
                     INT32_MAX - 1);
        return -1;
    }
    if (bw->len != bi->len) {
        PyErr_Format(PyExc_ValueError, "%s(): %s_weights has %zd entries but %s_indices has %zd",
                     func, name, bw->len, name, bi->len);
        return -1;
    }
    c->ptr = (const int64_t *)bp->view.buf;
    if (c->ptr[0] != 0 || c->ptr[c->n] != c->m) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): %s_indptr must start at 0 and end at len(%s_indices) = %lld", func,
                     name, name, (long long)c->m);
        return -1;
    }
    c->idx32 = bi->kind == K_I32 ? (const int32_t *)bi->view.buf : NULL;
    c->idx64 = bi->kind == K_I64 ? (const int64_t *)bi->view.buf : NULL;
    c->w = (const double *)bw->view.buf;
    c->name = name;
    return 0;
}

typedef struct {
    const int64_t *node;
    const double *off;
    const int64_t *label; /* phast only */
    int64_t count;
    const int64_t *ptr; /* rows, or NULL */
    int64_t rows;
} seeds_t;

/* ptr (rows+1, or NULL), node, offset: checked for memory safety. */
static int
get_seeds(bufset_t *set, const char *func, const char *prefix, PyObject *o_ptr,
          PyObject *o_node, PyObject *o_off, seeds_t *sd)
{
    char label[64];
    buf_t *bp = NULL;
    if (o_ptr) {
        PyOS_snprintf(label, sizeof label, "%s_ptr", prefix);
        bp = get_buf(set, o_ptr, func, label, K_I64, 0);
        if (!bp) return -1;
    }
    PyOS_snprintf(label, sizeof label, "%s_node", prefix);
    buf_t *bn = get_buf(set, o_node, func, label, K_I64, 0);
    if (!bn) return -1;
    PyOS_snprintf(label, sizeof label, "%s_offset", prefix);
    buf_t *bo = get_buf(set, o_off, func, label, K_F64, 0);
    if (!bo) return -1;
    if (bn->len != bo->len) {
        PyErr_Format(PyExc_ValueError, "%s(): %s_node has %zd entries but %s_offset has %zd",
                     func, prefix, bn->len, prefix, bo->len);
        return -1;
    }
    sd->node = (const int64_t *)bn->view.buf;
    sd->off = (const double *)bo->view.buf;
    sd->label = NULL;
    sd->count = bn->len;
    sd->ptr = NULL;
    sd->rows = 0;
    if (bp) {
        if (bp->len < 1) {
            PyErr_Format(PyExc_ValueError, "%s(): %s_ptr must have rows+1 >= 1 entries", func,
                         prefix);
            return -1;
        }
        const int64_t *p = (const int64_t *)bp->view.buf;
        if (p[0] < 0 || p[0] > sd->count) {
            PyErr_Format(PyExc_ValueError, "%s(): %s_ptr[0] is out of [0, len(%s_node)]", func,
                         prefix, prefix);
            return -1;
        }
        for (Py_ssize_t r = 0; r + 1 < bp->len; r++) {
            if (p[r + 1] < p[r] || p[r + 1] > sd->count) {
                PyErr_Format(PyExc_ValueError,
                             "%s(): %s_ptr must be non-decreasing within [0, len(%s_node)] "
                             "(fails at row %zd)",
                             func, prefix, prefix, r);
                return -1;
            }
        }
        sd->ptr = p;
        sd->rows = bp->len - 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Indexed 4-ary heap over calloc'ed state                                   */
/* ------------------------------------------------------------------------ */

#define ST_UNSEEN 0
#define ST_SETTLED (-1)

typedef struct {
    double key;
    int32_t node;
    int32_t unused;
} hent_t;

/* Slots in [size, hw) hold this, so that heap_pop compares 4 children without
 * bounds checks (keys pushed are always finite). */
static const hent_t SENTINEL = {INFINITY, 0, 0};
#define HEAP_PAD 4

typedef struct {
    hent_t *a;          /* n + HEAP_PAD slots, only [0, hw) initialised */
    int64_t size, hw;
    int32_t *state;     /* n: ST_UNSEEN, ST_SETTLED or heap slot + 1 */
    const int64_t *lab; /* NULL, or each node's label: ties of key go to the smallest */
    int64_t stride;     /* state of node v is state[v * stride] */
} heap_t;

ALWAYS_INLINE int
hless(const heap_t *h, const hent_t *x, const hent_t *y, const int use_lab)
{
    if (!use_lab) return x->key < y->key;
    return x->key < y->key || (x->key == y->key && h->lab[x->node] < h->lab[y->node]);
}

ALWAYS_INLINE int64_t
min_child(const heap_t *h, int64_t c, const int use_lab)
{
    const hent_t *a = h->a;
    if (!use_lab) { /* branch-free tournament */
        int64_t b01 = a[c + 1].key < a[c].key ? c + 1 : c;
        int64_t b23 = a[c + 3].key < a[c + 2].key ? c + 3 : c + 2;
        return a[b23].key < a[b01].key ? b23 : b01;
    }
    int64_t b = c;
    for (int k = 1; k < 4; k++) {
        if (hless(h, &a[c + k], &a[b], 1)) b = c + k;
    }
    return b;
}

ALWAYS_INLINE void
sift_up(heap_t *h, int64_t i, const int use_lab)
{
    hent_t e = h->a[i];
    while (i > 0) {
        int64_t p = (i - 1) >> 2;
        if (!hless(h, &e, &h->a[p], use_lab)) break;
        h->a[i] = h->a[p];
        h->state[h->a[i].node * h->stride] = (int32_t)(i + 1);
        i = p;
    }
    h->a[i] = e;
    h->state[e.node * h->stride] = (int32_t)(i + 1);
}

ALWAYS_INLINE void
heap_push(heap_t *h, int32_t v, double key, const int use_lab)
{
    int64_t i = h->size++;
    while (h->hw < h->size + HEAP_PAD) h->a[h->hw++] = SENTINEL;
    h->a[i].key = key;
    h->a[i].node = v;
    sift_up(h, i, use_lab);
}

ALWAYS_INLINE void
heap_decrease(heap_t *h, int32_t v, double key, const int use_lab)
{
    int64_t i = h->state[v * h->stride] - 1;
    h->a[i].key = key;
    sift_up(h, i, use_lab);
}

/* Remove the root (bottom-up: the hole follows the smallest child to a leaf). */
ALWAYS_INLINE hent_t
heap_pop(heap_t *h, const int use_lab)
{
    hent_t top = h->a[0];
    int64_t size = --h->size;
    hent_t last = h->a[size];
    h->a[size] = SENTINEL;
    if (size == 0) {
        h->a[0] = SENTINEL;
        return top;
    }
    int64_t i = 0;
    for (;;) {
        int64_t c = 4 * i + 1;
        if (c >= size) break;
        int64_t b = min_child(h, c, use_lab);
        h->a[i] = h->a[b];
        h->state[h->a[i].node * h->stride] = (int32_t)(i + 1);
        i = b;
    }
    h->a[i] = last;
    sift_up(h, i, use_lab);
    return top;
}

/* ------------------------------------------------------------------------ */
/* Search scratch                                                            */
/* ------------------------------------------------------------------------ */

typedef struct {
    double dist;   /* valid where state != ST_UNSEEN */
    int32_t state; /* ST_UNSEEN, ST_SETTLED or heap slot + 1 */
    int32_t unused;
} qnode_t;

typedef struct {
    int64_t n;
    qnode_t *q;       /* n, calloc (upward searches): state and distance together */
    int32_t *state;   /* n, calloc (phast): all ST_UNSEEN between searches */
    double *dist;     /* n, valid where state != ST_UNSEEN */
    int64_t *lab;     /* n or NULL */
    hent_t *heap;     /* n + HEAP_PAD */
    int64_t hw;       /* heap slots initialised so far */
    int32_t *touched; /* n: nodes whose state changed */
    int64_t ntouched;
} scratch_t;

static void
scratch_free(scratch_t *s)
{
    free(s->q);
    free(s->state);
    free(s->dist);
    free(s->lab);
    free(s->heap);
    free(s->touched);
    memset(s, 0, sizeof *s);
}

/*
 * Upward searches (want_lab 0) keep state and distance together in q; phast
 * (want_lab 1) wants separate state, dist and lab arrays. calloc'ed and
 * malloc'ed arrays are left untouched (lazily mapped), so small searches stay
 * cheap.
 */
static int
scratch_alloc(scratch_t *s, int64_t n, int want_lab)
{
    size_t k = (size_t)(n > 0 ? n : 1);
    memset(s, 0, sizeof *s);
    s->n = n;
    if (want_lab) {
        s->state = (int32_t *)calloc(k, sizeof(int32_t));
        s->dist = (double *)malloc(k * sizeof(double));
        s->lab = (int64_t *)malloc(k * sizeof(int64_t));
    } else {
        s->q = (qnode_t *)calloc(k, sizeof(qnode_t));
    }
    s->heap = (hent_t *)malloc((k + HEAP_PAD + 1) * sizeof(hent_t));
    s->touched = (int32_t *)malloc(k * sizeof(int32_t));
    if (!s->heap || !s->touched || (want_lab ? !s->state || !s->dist || !s->lab : !s->q)) {
        scratch_free(s);
        return -1;
    }
    return 0;
}

/* After a search that left heap_left entries: everything back to unseen. */
static inline void
scratch_reset(scratch_t *s, int64_t heap_left)
{
    if (s->q) {
        for (int64_t i = 0; i < s->ntouched; i++) s->q[s->touched[i]].state = ST_UNSEEN;
    } else {
        for (int64_t i = 0; i < s->ntouched; i++) s->state[s->touched[i]] = ST_UNSEEN;
    }
    for (int64_t i = 0; i < heap_left; i++) s->heap[i] = SENTINEL;
    s->ntouched = 0;
}

ALWAYS_INLINE int64_t
arc_head(const csr_t *c, int64_t e)
{
    return c->idx32 ? (int64_t)c->idx32[e] : c->idx64[e];
}

/* ------------------------------------------------------------------------ */
/* Upward search with stall-on-demand (bucket queries)                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    /* bucket scan (forward) */
    const int64_t *bptr;
    const int32_t *bcol;
    const double *bdist;
    int64_t bcount; /* entries */
    int64_t ncols;
    double *row;
    /* bucket fill (backward) */
    int32_t **enode;
    int32_t **ecol;
    double **edist;
    int64_t *elen, *ecap;
    int32_t col;
    /* statistics */
    int64_t settled;
} visit_t;

/* Append a bucket entry; -1 on OOM. */
static int
entry_push(visit_t *vt, int32_t node, double d)
{
    if (*vt->elen == *vt->ecap) {
        int64_t want = *vt->ecap ? *vt->ecap * 2 : 4096;
        int32_t *nn = (int32_t *)realloc(*vt->enode, (size_t)want * sizeof(int32_t));
        if (!nn) return -1;
        *vt->enode = nn;
        int32_t *nc = (int32_t *)realloc(*vt->ecol, (size_t)want * sizeof(int32_t));
        if (!nc) return -1;
        *vt->ecol = nc;
        double *nd = (double *)realloc(*vt->edist, (size_t)want * sizeof(double));
        if (!nd) return -1;
        *vt->edist = nd;
        *vt->ecap = want;
    }
    (*vt->enode)[*vt->elen] = node;
    (*vt->ecol)[*vt->elen] = vt->col;
    (*vt->edist)[*vt->elen] = d;
    (*vt->elen)++;
    return 0;
}

enum { MODE_SCAN = 0, MODE_FILL = 1, MODE_COUNT = 2 };

/* row[c] = min(row[c], d + add[c]): vectorised, with an AVX2 clone where gcc can dispatch. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
static void
dense_min(double *restrict row, const double *restrict add, double d, int64_t count)
{
    for (int64_t c = 0; c < count; c++) {
        const double val = d + add[c];
        row[c] = val < row[c] ? val : row[c];
    }
}

/*
 * Dijkstra over `g` (upward arcs) from seeds [s0, s1) with offsets; a settled
 * node u is stalled when an arc x -> u of `stall` (x higher, stored at u) gives
 * dist[x] + w < dist[u]. Unstalled settled nodes are visited: their bucket is
 * scanned (MODE_SCAN), they are added to the buckets (MODE_FILL) or counted.
 * Nodes beyond `bound` are never pushed. Returns the heap entries left (0), or
 * -1 with err set; the scratch is dirty either way.
 */
ALWAYS_INLINE int64_t
upward_impl(const csr_t *g, const csr_t *stall, scratch_t *s, const seeds_t *sd, int64_t s0,
            int64_t s1, double bound, visit_t *vt, kerr_t *err, const int mode)
{
    qnode_t *q = s->q;
    heap_t h = {s->heap, 0, s->hw, &q[0].state, NULL, sizeof(qnode_t) / sizeof(int32_t)};
    const int64_t n = g->n;
    bound = bound < DBL_MAX ? bound : DBL_MAX;

    for (int64_t k = s0; k < s1; k++) {
        int64_t v = sd->node[k];
        double off = sd->off[k];
        if (v < 0 || v >= n) {
            err->code = E_SEEDNODE, err->i = k, err->v = v;
            goto fail;
        }
        if (!isfinite(off)) {
            err->code = E_OFFSET, err->i = k;
            goto fail;
        }
        if (!(off <= bound)) continue;
        int32_t st = q[v].state;
        if (st == ST_UNSEEN) {
            q[v].dist = off;
            s->touched[s->ntouched++] = (int32_t)v;
            heap_push(&h, (int32_t)v, off, 0);
        } else if (off < q[v].dist) {
            q[v].dist = off;
            heap_decrease(&h, (int32_t)v, off, 0);
        }
    }

    while (h.size > 0) {
        const hent_t top = heap_pop(&h, 0);
        const int32_t u = top.node;
        const double du = top.key;
        q[u].state = ST_SETTLED;
        /* stall-on-demand */
        {
            const int64_t a = stall->ptr[u], b = stall->ptr[u + 1];
            if (a < 0 || b < a || b > stall->m) {
                err->code = E_INDPTR, err->what = stall->name, err->i = u;
                goto fail;
            }
            int stalled = 0;
            for (int64_t e = a; e < b; e++) {
                const int64_t x = stall->idx32[e];
                if ((uint64_t)x >= (uint64_t)n) {
                    err->code = E_INDEX, err->what = stall->name, err->i = e, err->v = x;
                    goto fail;
                }
                if (q[x].state != ST_UNSEEN && q[x].dist + stall->w[e] < du) {
                    stalled = 1;
                    break;
                }
            }
            if (stalled) continue;
        }
        vt->settled++;
        if (mode == MODE_SCAN) {
            const int64_t a = vt->bptr[u], b = vt->bptr[u + 1];
            if (a < 0 || b < a || b > vt->bcount) {
                err->code = E_INDPTR, err->what = "buckets", err->i = u;
                goto fail;
            }
            double *restrict row = vt->row;
            const double *restrict bdist = vt->bdist + a;
            if (b - a == vt->ncols) {
                /* a full bucket holds every column once, in order: a dense min */
                dense_min(row, bdist, du, vt->ncols);
            } else {
                const int32_t *bcol = vt->bcol + a; /* checked < ncols by the caller */
                for (int64_t e = 0; e < b - a; e++) {
                    const int32_t c = bcol[e];
                    const double val = du + bdist[e];
                    if (val < row[c]) row[c] = val;
                }
            }
        } else if (mode == MODE_FILL) {
            if (entry_push(vt, u, du) < 0) {
                err->code = E_NOMEM;
                goto fail;
            }
        }
        const int64_t a = g->ptr[u], b = g->ptr[u + 1];
        if (a < 0 || b < a || b > g->m) {
            err->code = E_INDPTR, err->what = g->name, err->i = u;
            goto fail;
        }
        for (int64_t e = a; e < b; e++) {
            const int64_t v = g->idx32[e];
            const double w = g->w[e];
            if ((uint64_t)v >= (uint64_t)n) {
                err->code = E_INDEX, err->what = g->name, err->i = e, err->v = v;
                goto fail;
            }
            if (!(w >= 0.0 && w < INFINITY)) {
                err->code = E_WEIGHT, err->what = g->name, err->i = e, err->x = w;
                goto fail;
            }
            const double nd = du + w;
            if (!(nd <= bound)) continue;
            const int32_t st = q[v].state;
            if (st == ST_UNSEEN) {
                q[v].dist = nd;
                s->touched[s->ntouched++] = (int32_t)v;
                heap_push(&h, (int32_t)v, nd, 0);
            } else if (st > 0 && nd < q[v].dist) {
                q[v].dist = nd;
                heap_decrease(&h, (int32_t)v, nd, 0);
            }
        }
    }
    s->hw = h.hw;
    return 0;
fail:
    s->hw = h.hw;
    for (int64_t i = 0; i < h.size; i++) s->heap[i] = SENTINEL;
    return -1;
}

static int64_t
upward_scan(const csr_t *g, const csr_t *st, scratch_t *s, const seeds_t *sd, int64_t s0,
            int64_t s1, double bound, visit_t *vt, kerr_t *err)
{
    return upward_impl(g, st, s, sd, s0, s1, bound, vt, err, MODE_SCAN);
}

static int64_t
upward_fill(const csr_t *g, const csr_t *st, scratch_t *s, const seeds_t *sd, int64_t s0,
            int64_t s1, double bound, visit_t *vt, kerr_t *err)
{
    return upward_impl(g, st, s, sd, s0, s1, bound, vt, err, MODE_FILL);
}

static int64_t
upward_count(const csr_t *g, const csr_t *st, scratch_t *s, const seeds_t *sd, int64_t s0,
             int64_t s1, double bound, visit_t *vt, kerr_t *err)
{
    return upward_impl(g, st, s, sd, s0, s1, bound, vt, err, MODE_COUNT);
}

/* up and down of a hierarchy: same n, int32 indices. */
static int
get_updown(bufset_t *set, const char *func, PyObject *const *o, csr_t *up, csr_t *down)
{
    if (get_csr(set, func, "rank_up", o[0], o[1], o[2], -1, K_I32, up) < 0) return -1;
    if (get_csr(set, func, "rank_down", o[3], o[4], o[5], up->n, K_I32, down) < 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* backward: bucket entries of target rows                                   */
/* ------------------------------------------------------------------------ */

static PyObject *
bytes_of(const void *data, int64_t nbytes)
{
    PyObject *b = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)nbytes);
    if (b && nbytes > 0) memcpy(PyByteArray_AS_STRING(b), data, (size_t)nbytes);
    return b;
}

static PyObject *
h_backward(PyObject *self, PyObject *args)
{
    static const char *F = "backward";
    PyObject *o[6], *o_ptr, *o_node, *o_off;
    double bound;
    long long col0;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOdL:backward", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o_ptr, &o_node, &o_off, &bound, &col0))
        return NULL;
    if (isnan(bound)) return PyErr_Format(PyExc_ValueError, "%s(): bound is NaN", F);

    bufset_t set = {0};
    csr_t up, down;
    seeds_t sd;
    PyObject *result = NULL;
    if (get_updown(&set, F, o, &up, &down) < 0) goto done;
    if (get_seeds(&set, F, "target", o_ptr, o_node, o_off, &sd) < 0) goto done;
    if (col0 < 0 || col0 + sd.rows > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s(): col0 out of range", F);
        goto done;
    }
    kerr_t err = {E_OK, NULL, "target", 0, 0, 0.0};
    int32_t *enode = NULL, *ecol = NULL;
    double *edist = NULL;
    int64_t elen = 0, ecap = 0;

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    if (sd.rows > 0) {
        if (scratch_alloc(&s, up.n, 0) < 0) {
            err.code = E_NOMEM;
        } else {
            visit_t vt = {0};
            vt.enode = &enode, vt.ecol = &ecol, vt.edist = &edist;
            vt.elen = &elen, vt.ecap = &ecap;
            for (int64_t r = 0; r < sd.rows && err.code == E_OK; r++) {
                vt.col = (int32_t)(col0 + r);
                upward_fill(&down, &up, &s, &sd, sd.ptr[r], sd.ptr[r + 1], bound, &vt, &err);
                scratch_reset(&s, 0);
            }
            scratch_free(&s);
        }
    }
    Py_END_ALLOW_THREADS

    if (err.code != E_OK) {
        raise_kerr(F, &err);
    } else {
        PyObject *bn = bytes_of(enode, elen * 4);
        PyObject *bc = bytes_of(ecol, elen * 4);
        PyObject *bd = bytes_of(edist, elen * 8);
        if (bn && bc && bd) result = PyTuple_Pack(3, bn, bc, bd);
        Py_XDECREF(bn);
        Py_XDECREF(bc);
        Py_XDECREF(bd);
    }
    free(enode);
    free(ecol);
    free(edist);
done:
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* bucket_sort                                                               */
/* ------------------------------------------------------------------------ */

static PyObject *
h_bucket_sort(PyObject *self, PyObject *args)
{
    static const char *F = "bucket_sort";
    PyObject *o_node, *o_col, *o_dist, *o_ptr, *o_ocol, *o_odist;
    if (!PyArg_ParseTuple(args, "OOOOOO:bucket_sort", &o_node, &o_col, &o_dist, &o_ptr, &o_ocol,
                          &o_odist))
        return NULL;
    bufset_t set = {0};
    PyObject *result = NULL;
    buf_t *bn = get_buf(&set, o_node, F, "node", K_I32, 0);
    buf_t *bc = bn ? get_buf(&set, o_col, F, "col", K_I32, 0) : NULL;
    buf_t *bd = bc ? get_buf(&set, o_dist, F, "dist", K_F64, 0) : NULL;
    buf_t *bp = bd ? get_buf(&set, o_ptr, F, "out_ptr", K_I64, 1) : NULL;
    buf_t *boc = bp ? get_buf(&set, o_ocol, F, "out_col", K_I32, 1) : NULL;
    buf_t *bod = boc ? get_buf(&set, o_odist, F, "out_dist", K_F64, 1) : NULL;
    if (!bod) goto done;
    const int64_t len = bn->len;
    if (bc->len != len || bd->len != len || boc->len != len || bod->len != len ||
        bp->len < 1) {
        PyErr_Format(PyExc_ValueError, "%s(): entry arrays of different lengths", F);
        goto done;
    }
    const int64_t n = bp->len - 1;
    const int32_t *node = (const int32_t *)bn->view.buf;
    const int32_t *col = (const int32_t *)bc->view.buf;
    const double *dist = (const double *)bd->view.buf;
    int64_t *ptr = (int64_t *)bp->view.buf;
    int32_t *ocol = (int32_t *)boc->view.buf;
    double *odist = (double *)bod->view.buf;
    for (int64_t i = 0; i < len; i++) {
        if (node[i] < 0 || node[i] >= n) {
            PyErr_Format(PyExc_ValueError, "%s(): node[%lld] = %d out of range", F,
                         (long long)i, node[i]);
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    memset(ptr, 0, (size_t)(n + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < len; i++) ptr[node[i] + 1]++;
    for (int64_t v = 0; v < n; v++) ptr[v + 1] += ptr[v];
    /* ptr[v] is the next free slot of v while filling, then shifted back */
    for (int64_t i = 0; i < len; i++) {
        int64_t k = ptr[node[i]]++;
        ocol[k] = col[i];
        odist[k] = dist[i];
    }
    for (int64_t v = n; v > 0; v--) ptr[v] = ptr[v - 1];
    ptr[0] = 0;
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* scan: forward searches of seed rows over the buckets                      */
/* ------------------------------------------------------------------------ */

static PyObject *
h_scan(PyObject *self, PyObject *args)
{
    static const char *F = "scan";
    PyObject *o[6], *o_bptr, *o_bcol, *o_bdist, *o_ptr, *o_node, *o_off, *o_out;
    double bound, limit;
    long long ncols;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOddLO:scan", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o_bptr, &o_bcol, &o_bdist, &o_ptr, &o_node, &o_off, &bound,
                          &limit, &ncols, &o_out))
        return NULL;
    if (isnan(bound) || isnan(limit))
        return PyErr_Format(PyExc_ValueError, "%s(): bound or limit is NaN", F);

    bufset_t set = {0};
    csr_t up, down;
    seeds_t sd;
    PyObject *result = NULL;
    if (get_updown(&set, F, o, &up, &down) < 0) goto done;
    buf_t *bbp = get_buf(&set, o_bptr, F, "bucket_ptr", K_I64, 0);
    if (!bbp) goto done;
    buf_t *bbc = get_buf(&set, o_bcol, F, "bucket_col", K_I32, 0);
    if (!bbc) goto done;
    buf_t *bbd = get_buf(&set, o_bdist, F, "bucket_dist", K_F64, 0);
    if (!bbd) goto done;
    if (bbp->len != up.n + 1 || bbc->len != bbd->len) {
        PyErr_Format(PyExc_ValueError, "%s(): bucket arrays do not match the hierarchy", F);
        goto done;
    }
    if (get_seeds(&set, F, "seed", o_ptr, o_node, o_off, &sd) < 0) goto done;
    buf_t *bo = get_buf(&set, o_out, F, "out", K_F64, 1);
    if (!bo) goto done;
    if (ncols < 0 || bo->len != sd.rows * ncols) {
        PyErr_Format(PyExc_ValueError, "%s(): out has %zd entries, expected rows * cols = %lld",
                     F, bo->len, (long long)(sd.rows * ncols));
        goto done;
    }
    double *out = (double *)bo->view.buf;
    kerr_t err = {E_OK, NULL, "seed", 0, 0, 0.0};
    {
        const int32_t *bcol = (const int32_t *)bbc->view.buf;
        for (Py_ssize_t e = 0; e < bbc->len; e++) {
            if (bcol[e] < 0 || bcol[e] >= ncols) {
                PyErr_Format(PyExc_ValueError,
                             "%s(): bucket_col[%zd] = %d is not a column (0 <= c < %lld)", F, e,
                             bcol[e], (long long)ncols);
                goto done;
            }
        }
    }

    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < sd.rows * ncols; i++) out[i] = INFINITY;
    scratch_t s;
    if (sd.rows > 0 && ncols > 0) {
        if (scratch_alloc(&s, up.n, 0) < 0) {
            err.code = E_NOMEM;
        } else {
            visit_t vt = {0};
            vt.bptr = (const int64_t *)bbp->view.buf;
            vt.bcol = (const int32_t *)bbc->view.buf;
            vt.bdist = (const double *)bbd->view.buf;
            vt.bcount = bbc->len;
            vt.ncols = ncols;
            for (int64_t r = 0; r < sd.rows && err.code == E_OK; r++) {
                vt.row = out + r * ncols;
                upward_scan(&up, &down, &s, &sd, sd.ptr[r], sd.ptr[r + 1], bound, &vt, &err);
                scratch_reset(&s, 0);
                for (int64_t c = 0; c < ncols; c++) {
                    if (!(vt.row[c] <= limit)) vt.row[c] = INFINITY;
                }
            }
            scratch_free(&s);
        }
    }
    Py_END_ALLOW_THREADS

    if (err.code != E_OK) {
        raise_kerr(F, &err);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* search_space                                                              */
/* ------------------------------------------------------------------------ */

static PyObject *
h_search_space(PyObject *self, PyObject *args)
{
    static const char *F = "search_space";
    PyObject *o[6], *o_nodes, *o_count;
    int backward;
    if (!PyArg_ParseTuple(args, "OOOOOOOpO:search_space", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o_nodes, &backward, &o_count))
        return NULL;
    bufset_t set = {0};
    csr_t up, down;
    PyObject *result = NULL;
    if (get_updown(&set, F, o, &up, &down) < 0) goto done;
    buf_t *bn = get_buf(&set, o_nodes, F, "nodes", K_I64, 0);
    if (!bn) goto done;
    buf_t *bc = get_buf(&set, o_count, F, "out_count", K_I64, 1);
    if (!bc) goto done;
    if (bc->len != bn->len) {
        PyErr_Format(PyExc_ValueError, "%s(): out_count must have one entry per node", F);
        goto done;
    }
    const int64_t *nodes = (const int64_t *)bn->view.buf;
    int64_t *count = (int64_t *)bc->view.buf;
    const int64_t k = bn->len;
    kerr_t err = {E_OK, NULL, "seed", 0, 0, 0.0};

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    double zero = 0.0;
    if (k > 0) {
        if (scratch_alloc(&s, up.n, 0) < 0) {
            err.code = E_NOMEM;
        } else {
            for (int64_t i = 0; i < k && err.code == E_OK; i++) {
                seeds_t one = {&nodes[i], &zero, NULL, 1, NULL, 0};
                visit_t vt = {0};
                if (backward)
                    upward_count(&down, &up, &s, &one, 0, 1, INFINITY, &vt, &err);
                else
                    upward_count(&up, &down, &s, &one, 0, 1, INFINITY, &vt, &err);
                count[i] = vt.settled;
                scratch_reset(&s, 0);
            }
            scratch_free(&s);
        }
    }
    Py_END_ALLOW_THREADS

    if (err.code != E_OK) {
        raise_kerr(F, &err);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* phast                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Upward search from all seeds with (dist, label) keys, no stalling, over `g`:
 * rank_up (forward: arcs r -> s) or rank_down (reverse: arcs s -> r stored at r,
 * followed from r to s, i.e. towards the seeds' predecessors). Either way an
 * arc of row r leads to a higher rank s with weight w: dist(s) <= dist(r) + w.
 */
static int64_t
phast_up(const csr_t *g, scratch_t *s, const seeds_t *sd, double limit, kerr_t *err)
{
    int32_t *state = s->state;
    double *dist = s->dist;
    int64_t *lab = s->lab;
    heap_t h = {s->heap, 0, s->hw, state, lab, 1};
    const int64_t n = g->n;
    limit = limit < DBL_MAX ? limit : DBL_MAX;

    for (int64_t k = 0; k < sd->count; k++) {
        int64_t v = sd->node[k];
        double off = sd->off[k];
        if (v < 0 || v >= n) {
            err->code = E_SEEDNODE, err->i = k, err->v = v;
            goto fail;
        }
        if (!isfinite(off)) {
            err->code = E_OFFSET, err->i = k;
            goto fail;
        }
        if (!(off <= limit)) continue;
        int32_t st = state[v];
        if (st == ST_UNSEEN) {
            dist[v] = off;
            lab[v] = sd->label[k];
            s->touched[s->ntouched++] = (int32_t)v;
            heap_push(&h, (int32_t)v, off, 1);
        } else if (off < dist[v] || (off == dist[v] && sd->label[k] < lab[v])) {
            dist[v] = off;
            lab[v] = sd->label[k];
            heap_decrease(&h, (int32_t)v, off, 1);
        }
    }
    while (h.size > 0) {
        const hent_t top = heap_pop(&h, 1);
        const int32_t u = top.node;
        const double du = top.key;
        const int64_t tie = lab[u];
        state[u] = ST_SETTLED;
        const int64_t a = g->ptr[u], b = g->ptr[u + 1];
        if (a < 0 || b < a || b > g->m) {
            err->code = E_INDPTR, err->what = g->name, err->i = u;
            goto fail;
        }
        for (int64_t e = a; e < b; e++) {
            const int64_t v = g->idx32[e];
            const double w = g->w[e];
            if ((uint64_t)v >= (uint64_t)n) {
                err->code = E_INDEX, err->what = g->name, err->i = e, err->v = v;
                goto fail;
            }
            if (!(w >= 0.0 && w < INFINITY)) {
                err->code = E_WEIGHT, err->what = g->name, err->i = e, err->x = w;
                goto fail;
            }
            const double nd = du + w;
            if (!(nd <= limit)) continue;
            const int32_t st = state[v];
            if (st == ST_UNSEEN) {
                dist[v] = nd;
                lab[v] = tie;
                s->touched[s->ntouched++] = (int32_t)v;
                heap_push(&h, (int32_t)v, nd, 1);
            } else if (st > 0 && (nd < dist[v] || (nd == dist[v] && tie < lab[v]))) {
                dist[v] = nd;
                lab[v] = tie;
                heap_decrease(&h, (int32_t)v, nd, 1);
            }
        }
    }
    s->hw = h.hw;
    return 0;
fail:
    s->hw = h.hw;
    return -1;
}

static PyObject *
h_phast(PyObject *self, PyObject *args)
{
    static const char *F = "phast";
    PyObject *o_uptr, *o_uidx, *o_uw, *o_order, *o_dptr, *o_didx, *o_dw;
    PyObject *o_node, *o_off, *o_label, *o_dist, *o_lab;
    double limit;
    int reverse;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOdpOO:phast", &o_uptr, &o_uidx, &o_uw, &o_order,
                          &o_dptr, &o_didx, &o_dw, &o_node, &o_off, &o_label, &limit, &reverse,
                          &o_dist, &o_lab))
        return NULL;
    if (isnan(limit)) return PyErr_Format(PyExc_ValueError, "%s(): limit is NaN", F);

    bufset_t set = {0};
    csr_t up, down;
    seeds_t sd;
    PyObject *result = NULL;
    if (get_csr(&set, F, "rank_up", o_uptr, o_uidx, o_uw, -1, K_I32, &up) < 0) goto done;
    const int64_t n = up.n;
    if (get_csr(&set, F, "rank_down", o_dptr, o_didx, o_dw, n, K_I32, &down) < 0) goto done;
    buf_t *bor = get_buf(&set, o_order, F, "order", K_I32, 0);
    if (!bor) goto done;
    if (bor->len != n) {
        PyErr_Format(PyExc_ValueError, "%s(): order must have n = %lld entries", F, (long long)n);
        goto done;
    }
    if (get_seeds(&set, F, "seed", NULL, o_node, o_off, &sd) < 0) goto done;
    buf_t *bl = get_buf(&set, o_label, F, "seed_label", K_I64, 0);
    if (!bl) goto done;
    buf_t *bd = get_buf(&set, o_dist, F, "out_dist", K_F64, 1);
    if (!bd) goto done;
    buf_t *bo = get_buf(&set, o_lab, F, "out_label", K_I64, 1);
    if (!bo) goto done;
    if (bl->len != sd.count) {
        PyErr_Format(PyExc_ValueError, "%s(): seed_label has %zd entries but seed_node has %lld",
                     F, bl->len, (long long)sd.count);
        goto done;
    }
    if (bd->len != n || bo->len != n) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): out_dist and out_label must have n = %lld entries, got %zd and %zd", F,
                     (long long)n, bd->len, bo->len);
        goto done;
    }
    sd.label = (const int64_t *)bl->view.buf;
    const int32_t *order = (const int32_t *)bor->view.buf;
    double *out_dist = (double *)bd->view.buf;
    int64_t *out_lab = (int64_t *)bo->view.buf;
    kerr_t err = {E_OK, NULL, "seed", 0, 0, 0.0};

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    if (scratch_alloc(&s, n, 1) < 0) {
        err.code = E_NOMEM;
    } else {
        /* everything in rank space: the upward search leaves (dist, label) in D, L */
        double *D = s.dist;
        int64_t *L = s.lab;
        for (int64_t v = 0; v < n; v++) {
            D[v] = INFINITY;
            L[v] = -1;
            out_dist[v] = INFINITY;
            out_lab[v] = -1;
        }
        /*
         * Forward: the search goes up rank_up, the sweep reads rank_down (row r:
         * arcs s -> r, s > r). Reverse: the search goes up rank_down backwards, the
         * sweep reads rank_up (row r: arcs r -> s, s > r). In both, row r of the
         * sweep's arrays lists higher ranks s with D[r] <= D[s] + w.
         */
        const csr_t *search = reverse ? &down : &up;
        const csr_t *sweep = reverse ? &up : &down;
        if (phast_up(search, &s, &sd, limit, &err) == 0) {
            const int64_t *sp = sweep->ptr;
            const int32_t *other = sweep->idx32;
            const double *sw = sweep->w;
            const int64_t m = sweep->m;
            for (int64_t r = n - 1; r >= 0 && err.code == E_OK; r--) {
                const int64_t a = sp[r], b = sp[r + 1];
                if (a < 0 || b < a || b > m) {
                    err.code = E_INDPTR, err.what = sweep->name, err.i = r;
                    break;
                }
                double dr = D[r];
                int64_t lr = L[r];
                for (int64_t e = a; e < b; e++) {
                    const int64_t t = other[e];
                    if (t <= r || t >= n) { /* must be higher: final already */
                        err.code = E_INDEX, err.what = sweep->name, err.i = e, err.v = t;
                        break;
                    }
                    const double dt = D[t];
                    if (dt == INFINITY) continue;
                    const double w = sw[e];
                    if (!(w >= 0.0 && w < INFINITY)) {
                        err.code = E_WEIGHT, err.what = sweep->name, err.i = e, err.x = w;
                        break;
                    }
                    const double nd = dt + w;
                    if (nd < dr || (nd == dr && L[t] < lr)) {
                        dr = nd;
                        lr = L[t];
                    }
                }
                D[r] = dr;
                L[r] = lr;
                const int64_t v = order[r];
                if ((uint64_t)v >= (uint64_t)n) {
                    err.code = E_INDEX, err.what = "order", err.i = r, err.v = v;
                    break;
                }
                if (dr <= limit) {
                    out_dist[v] = dr;
                    out_lab[v] = lr;
                }
            }
        }
        scratch_free(&s);
    }
    Py_END_ALLOW_THREADS

    if (err.code != E_OK) {
        raise_kerr(F, &err);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* build                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * The remaining graph: an out list and an in list per node (separately
 * allocated, grown by half). Out lists are sorted by (weight, node) so that a
 * witness search stops scanning a node's arcs at the first one beyond its
 * bound. Contracting v appends its out list to the upward arcs and its in list
 * to the downward arcs (in rank order), removes v from its neighbours' lists
 * and frees its own: memory moves from the remaining graph to the output.
 *
 * Nodes are renumbered internally in breadth-first order (over arcs in both
 * directions, components by smallest original id) so that the searches of a
 * neighbourhood touch nearby memory; every output is in original ids.
 *
 * Contraction proceeds in rounds. A round takes every remaining node whose
 * (priority, internal id) is smaller than that of all its neighbours: these
 * nodes are pairwise non-adjacent. Their shortcuts are computed in parallel,
 * with witness searches that avoid every node of the round (so that the
 * shortcuts of one never rely on a path through another: contracting them all
 * keeps the distances between the remaining nodes). They are then contracted
 * one by one in (priority, id) order, which gives their ranks, and the
 * priorities of their neighbours are recomputed in parallel. Every per-node
 * result is stored by node, so the output does not depend on the threads.
 */

#if !defined(_WIN32)
#include <pthread.h>
#include <stdatomic.h>
#define HAVE_THREADS 1
#else
#define HAVE_THREADS 0
#endif

typedef struct {
    int32_t node;
    int32_t hops; /* original arcs this arc stands for */
    double w;
} arc_t;

typedef struct {
    arc_t *a;
    int32_t len, cap;
} adj_t;

typedef struct {
    int32_t u, x, hops, unused;
    double w;
} sc_t;

typedef struct {
    double dist;    /* valid where state != ST_UNSEEN */
    int32_t state;  /* ST_UNSEEN, ST_SETTLED or heap slot + 1 */
    int32_t target; /* out-neighbour of the node being simulated */
} wnode_t;

/* Priority = 1 + 1000 (c_quot added/removed + c_hops added_hops/removed_hops +
 * c_diff (added - removed) + c_level level + c_deleted deleted neighbours), in
 * integers; the values below were chosen on turn-expanded road graphs (fewer
 * shortcuts and smaller search spaces than RoutingKit's quotient formula there). */
typedef struct {
    int64_t c_quot, c_hops, c_level, c_diff, c_deleted;
    int64_t sim_limit; /* settle limit of the witness searches that only estimate */
} tuning_t;

static const tuning_t TUNING = {0, 0, 1, 2, 1, 20};

enum { N_REMAINING = 0, N_ROUND = 1, N_CONTRACTED = 2 };

struct builder;

/* One per thread: witness search scratch, shortcut buffer, counters. */
typedef struct {
    struct builder *B;
    int id;
    wnode_t *wn; /* n, all ST_UNSEEN and target 0 between searches */
    hent_t *wheap;
    int64_t whw;
    int32_t *wtouched;
    int64_t nwt;
    sc_t *sc; /* shortcuts of the round's nodes this thread computed */
    int64_t nsc, capsc;
    int64_t n_sim, n_witness, n_wsettled, n_cut;
    int oom;
} worker_t;

typedef void (*task_fn)(worker_t *W, int64_t i);

typedef struct {
    int nthreads;
    worker_t *workers;
    task_fn fn;
    int64_t count;
#if HAVE_THREADS
    pthread_t *tids;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    int64_t generation;
    int running, quit;
    atomic_llong next;
#endif
} pool_t;

typedef struct builder {
    int64_t n;
    tuning_t t;
    int64_t settle_limit;
    adj_t *out, *in;
    int32_t *level;   /* 1 + the largest level of a contracted neighbour */
    int32_t *deleted; /* contracted neighbours */
    int64_t *prio;    /* current priority */
    uint8_t *nstate;  /* N_REMAINING, N_ROUND, N_CONTRACTED */
    int32_t *alive;   /* remaining nodes */
    int64_t nalive;
    int32_t *set; /* this round's nodes, in (priority, id) order */
    int64_t nset;
    int64_t *sc_off; /* per node of the round: where its shortcuts are */
    int32_t *sc_cnt, *sc_thr;
    int32_t *upd; /* neighbours of the round, to re-simulate */
    int64_t nupd;
    uint8_t *upd_mark;
    int32_t *stamp; /* last contracted neighbour + 1 */
    /* output in rank order, internal ids */
    int64_t *up_start, *down_start; /* n + 1 */
    int32_t *up_node, *down_node;
    double *up_w, *down_w;
    int64_t up_len, up_cap, down_len, down_cap;
    /* statistics */
    int64_t n_added, n_improved, max_degree, arcs_in, rounds;
    int64_t bytes, peak_bytes;
} builder_t;

static void
account(builder_t *B, int64_t delta)
{
    B->bytes += delta;
    if (B->bytes > B->peak_bytes) B->peak_bytes = B->bytes;
}

/* ---- thread pool: par_for(fn, count) runs fn(W, i) for i < count ---- */

static void
run_items(pool_t *P, worker_t *W)
{
#if HAVE_THREADS
    if (P->nthreads > 1) {
        for (;;) {
            const int64_t i = atomic_fetch_add(&P->next, 1);
            if (i >= P->count) return;
            P->fn(W, i);
        }
    }
#endif
    for (int64_t i = 0; i < P->count; i++) P->fn(W, i);
}

#if HAVE_THREADS
typedef struct {
    pool_t *P;
    worker_t *W;
} thread_arg_t;

static void *
pool_thread(void *arg)
{
    pool_t *P = ((thread_arg_t *)arg)->P;
    worker_t *W = ((thread_arg_t *)arg)->W;
    free(arg);
    int64_t seen = 0;
    pthread_mutex_lock(&P->mu);
    for (;;) {
        while (!P->quit && P->generation == seen) pthread_cond_wait(&P->cv_start, &P->mu);
        if (P->quit) break;
        seen = P->generation;
        pthread_mutex_unlock(&P->mu);
        run_items(P, W);
        pthread_mutex_lock(&P->mu);
        if (--P->running == 0) pthread_cond_signal(&P->cv_done);
    }
    pthread_mutex_unlock(&P->mu);
    return NULL;
}
#endif

static void
par_for(pool_t *P, task_fn fn, int64_t count)
{
    P->fn = fn;
    P->count = count;
#if HAVE_THREADS
    if (P->nthreads > 1 && count > 1) {
        atomic_store(&P->next, 0);
        pthread_mutex_lock(&P->mu);
        P->running = P->nthreads - 1;
        P->generation++;
        pthread_cond_broadcast(&P->cv_start);
        pthread_mutex_unlock(&P->mu);
        run_items(P, &P->workers[0]);
        pthread_mutex_lock(&P->mu);
        while (P->running > 0) pthread_cond_wait(&P->cv_done, &P->mu);
        pthread_mutex_unlock(&P->mu);
        return;
    }
#endif
    for (int64_t i = 0; i < count; i++) fn(&P->workers[0], i);
}

static void
worker_free(worker_t *W)
{
    free(W->wn);
    free(W->wheap);
    free(W->wtouched);
    free(W->sc);
}

static void
pool_stop(pool_t *P)
{
#if HAVE_THREADS
    if (P->started > 0) {
        pthread_mutex_lock(&P->mu);
        P->quit = 1;
        pthread_cond_broadcast(&P->cv_start);
        pthread_mutex_unlock(&P->mu);
        for (int i = 0; i < P->started; i++) pthread_join(P->tids[i], NULL);
    }
    if (P->tids) {
        pthread_mutex_destroy(&P->mu);
        pthread_cond_destroy(&P->cv_start);
        pthread_cond_destroy(&P->cv_done);
    }
    free(P->tids);
#endif
    if (P->workers) {
        for (int i = 0; i < P->nthreads; i++) worker_free(&P->workers[i]);
        free(P->workers);
    }
    memset(P, 0, sizeof *P);
}

/* nthreads workers with their scratch, nthreads - 1 threads. 0 or -1 (OOM). */
static int
pool_start(pool_t *P, builder_t *B, int nthreads)
{
    memset(P, 0, sizeof *P);
#if !HAVE_THREADS
    nthreads = 1;
#endif
    P->nthreads = nthreads;
    P->workers = (worker_t *)calloc((size_t)nthreads, sizeof(worker_t));
    if (!P->workers) return -1;
    size_t k = (size_t)(B->n > 0 ? B->n : 1);
    for (int i = 0; i < nthreads; i++) {
        worker_t *W = &P->workers[i];
        W->B = B;
        W->id = i;
        W->wn = (wnode_t *)calloc(k, sizeof(wnode_t));
        W->wheap = (hent_t *)malloc((k + HEAP_PAD + 2) * sizeof(hent_t));
        W->wtouched = (int32_t *)malloc((k + 2) * sizeof(int32_t));
        if (!W->wn || !W->wheap || !W->wtouched) return -1;
    }
    account(B, (int64_t)nthreads * (int64_t)k *
                   (int64_t)(sizeof(wnode_t) + sizeof(hent_t) + sizeof(int32_t)));
#if HAVE_THREADS
    if (nthreads > 1) {
        P->tids = (pthread_t *)calloc((size_t)nthreads, sizeof(pthread_t));
        if (!P->tids) return -1;
        pthread_mutex_init(&P->mu, NULL);
        pthread_cond_init(&P->cv_start, NULL);
        pthread_cond_init(&P->cv_done, NULL);
        for (int i = 1; i < nthreads; i++) {
            thread_arg_t *arg = (thread_arg_t *)malloc(sizeof *arg);
            if (!arg) return -1;
            arg->P = P;
            arg->W = &P->workers[i];
            if (pthread_create(&P->tids[P->started], NULL, pool_thread, arg) != 0) {
                free(arg);
                return -1;
            }
            P->started++;
        }
    }
#endif
    return 0;
}

static int
pool_oom(const pool_t *P)
{
    for (int i = 0; i < P->nthreads; i++)
        if (P->workers[i].oom) return 1;
    return 0;
}

/* ---- adjacency lists ---- */

/* 0, -1 (OOM) or -2 (a list would exceed int32). */
static int
adj_reserve(builder_t *B, adj_t *l, int64_t want)
{
    if (want <= l->cap) return 0;
    if (want > INT32_MAX) return -2;
    int64_t cap = l->cap ? (int64_t)l->cap + l->cap / 2 + 2 : 2;
    if (cap < want) cap = want;
    if (cap > INT32_MAX) cap = INT32_MAX;
    arc_t *a = (arc_t *)realloc(l->a, (size_t)cap * sizeof(arc_t));
    if (!a) return -1;
    account(B, (cap - l->cap) * (int64_t)sizeof(arc_t));
    l->a = a;
    l->cap = (int32_t)cap;
    return 0;
}

static void
adj_release(builder_t *B, adj_t *l)
{
    account(B, -(int64_t)l->cap * (int64_t)sizeof(arc_t));
    free(l->a);
    l->a = NULL;
    l->len = l->cap = 0;
}

/* In lists are unordered: swap with the last. */
static void
adj_remove(adj_t *l, int32_t node)
{
    for (int32_t i = 0; i < l->len; i++) {
        if (l->a[i].node == node) {
            l->a[i] = l->a[--l->len];
            return;
        }
    }
}

ALWAYS_INLINE int
arc_before(const arc_t *a, const arc_t *b)
{
    return a->w < b->w || (a->w == b->w && a->node < b->node);
}

/* Entry i of a sorted list got lighter (or is new at the end): move it to its place. */
static void
adj_sift_left(adj_t *l, int32_t i)
{
    arc_t e = l->a[i];
    while (i > 0 && arc_before(&e, &l->a[i - 1])) {
        l->a[i] = l->a[i - 1];
        i--;
    }
    l->a[i] = e;
}

/* Out lists are sorted: remove keeping the order. */
static void
adj_remove_sorted(adj_t *l, int32_t node)
{
    for (int32_t i = 0; i < l->len; i++) {
        if (l->a[i].node == node) {
            memmove(&l->a[i], &l->a[i + 1], (size_t)(l->len - i - 1) * sizeof(arc_t));
            l->len--;
            return;
        }
    }
}

static int
cmp_arc(const void *a, const void *b)
{
    const arc_t *x = (const arc_t *)a, *y = (const arc_t *)b;
    return arc_before(x, y) ? -1 : arc_before(y, x) ? 1 : 0;
}

static int32_t
clamp_hops(int64_t h)
{
    return h > (1 << 30) ? (1 << 30) : (int32_t)h;
}

/* Add the arc u -> x, or lower a heavier one. 0, -1 (OOM) or -2 (too many arcs). */
static int
add_arc(builder_t *B, int32_t u, int32_t x, double w, int32_t hops)
{
    adj_t *ou = &B->out[u];
    for (int32_t i = 0; i < ou->len; i++) {
        if (ou->a[i].node == x) {
            if (w < ou->a[i].w) {
                ou->a[i].w = w;
                ou->a[i].hops = hops;
                adj_sift_left(ou, i);
                adj_t *ix = &B->in[x];
                for (int32_t j = 0; j < ix->len; j++) {
                    if (ix->a[j].node == u) {
                        ix->a[j].w = w;
                        ix->a[j].hops = hops;
                        break;
                    }
                }
                B->n_improved++;
            }
            return 0;
        }
    }
    adj_t *ix = &B->in[x];
    int rc = adj_reserve(B, ou, (int64_t)ou->len + 1);
    if (rc < 0) return rc;
    rc = adj_reserve(B, ix, (int64_t)ix->len + 1);
    if (rc < 0) return rc;
    ou->a[ou->len++] = (arc_t){x, hops, w};
    adj_sift_left(ou, ou->len - 1);
    ix->a[ix->len++] = (arc_t){u, hops, w};
    B->n_added++;
    return 0;
}

/* ---- witness search ---- */

/*
 * Dijkstra from src in the remaining graph without v and without the nodes of
 * the current round, keys <= bound, until `targets` flagged nodes (other than
 * src) are settled. Resumable: witness_run(limit) settles up to `limit` nodes
 * in all and returns 1 when it stopped there (cut short), 0 when the search is
 * complete; a second call with a larger limit continues it. The distances stay
 * in W->wn until witness_reset.
 */
typedef struct {
    heap_t h;
    int32_t src;
    double bound;
    int64_t targets, settled;
} wsearch_t;

static void
witness_reset(worker_t *W, int64_t heap_left)
{
    for (int64_t i = 0; i < W->nwt; i++) W->wn[W->wtouched[i]].state = ST_UNSEEN;
    for (int64_t i = 0; i < heap_left; i++) W->wheap[i] = SENTINEL;
    W->nwt = 0;
}

static void
witness_start(worker_t *W, wsearch_t *ws, int32_t src, int32_t v, double bound,
              int64_t targets)
{
    wnode_t *wn = W->wn;
    ws->h = (heap_t){W->wheap, 0, W->whw, &wn[0].state, NULL, sizeof(wnode_t) / sizeof(int32_t)};
    ws->src = src;
    ws->bound = bound;
    ws->targets = targets;
    ws->settled = 0;
    W->n_witness++;
    wn[v].state = ST_SETTLED;
    W->wtouched[W->nwt++] = v;
    wn[src].dist = 0.0;
    W->wtouched[W->nwt++] = src;
    heap_push(&ws->h, src, 0.0, 0);
}

static int
witness_run(worker_t *W, wsearch_t *ws, int64_t limit)
{
    const builder_t *B = W->B;
    const uint8_t *nstate = B->nstate;
    wnode_t *wn = W->wn;
    heap_t *h = &ws->h;
    const double bound = ws->bound;
    int cut = 0;
    while (h->size > 0 && ws->targets > 0) {
        if (ws->settled >= limit) {
            cut = 1;
            break;
        }
        if (h->a[0].key > bound) break;
        const hent_t top = heap_pop(h, 0);
        const int32_t x = top.node;
        const double dx = top.key;
        wn[x].state = ST_SETTLED;
        ws->settled++;
        W->n_wsettled++;
        if (x != ws->src && wn[x].target && --ws->targets == 0) break;
        const adj_t *l = &B->out[x];
        for (int32_t i = 0; i < l->len; i++) {
            const int32_t y = l->a[i].node;
            const double nd = dx + l->a[i].w;
            if (nd > bound) break; /* sorted by weight: the rest are beyond too */
            wnode_t *ny = &wn[y];
            const int32_t st = ny->state;
            if (st == ST_UNSEEN) {
                if (nstate[y] != N_REMAINING) continue; /* in the round: not a witness */
                ny->dist = nd;
                W->wtouched[W->nwt++] = y;
                heap_push(h, y, nd, 0);
            } else if (st > 0 && nd < ny->dist) {
                ny->dist = nd;
                heap_decrease(h, y, nd, 0);
            }
        }
    }
    W->whw = h->hw;
    return cut;
}

/*
 * Simulate the contraction of v: its priority, and with `record` the shortcuts
 * it needs appended to W->sc. Witness searches settle up to sim_limit nodes;
 * with `record`, one cut short there continues up to settle_limit, so the
 * recorded shortcuts are those of the full searches. 0, or -1 on OOM.
 */
static int
simulate(worker_t *W, int32_t v, int record, int64_t *prio)
{
    const builder_t *B = W->B;
    const adj_t *in = &B->in[v], *out = &B->out[v];
    int64_t removed = (int64_t)in->len + out->len, removed_hops = 0;
    int64_t added = 0, added_hops = 0;
    for (int32_t i = 0; i < in->len; i++) removed_hops += in->a[i].hops;
    for (int32_t i = 0; i < out->len; i++) removed_hops += out->a[i].hops;
    W->n_sim++;
    if (in->len > 0 && out->len > 0) {
        for (int32_t i = 0; i < out->len; i++) W->wn[out->a[i].node].target = 1;
        for (int32_t j = 0; j < in->len; j++) {
            const int32_t u = in->a[j].node;
            const double wu = in->a[j].w;
            double bound = -1.0;
            int64_t count = 0;
            for (int32_t i = 0; i < out->len; i++) {
                if (out->a[i].node == u) continue;
                count++;
                const double via = wu + out->a[i].w;
                if (via > bound) bound = via;
            }
            if (count == 0) continue;
            wsearch_t ws;
            witness_start(W, &ws, u, v, bound, count);
            if (witness_run(W, &ws, B->t.sim_limit) && record &&
                witness_run(W, &ws, B->settle_limit))
                W->n_cut++;
            const int64_t left = ws.h.size;
            for (int32_t i = 0; i < out->len; i++) {
                const int32_t x = out->a[i].node;
                if (x == u) continue;
                const double via = wu + out->a[i].w;
                if (W->wn[x].state != ST_UNSEEN && W->wn[x].dist <= via) continue;
                added++;
                added_hops += (int64_t)in->a[j].hops + out->a[i].hops;
                if (!record) continue;
                if (W->nsc == W->capsc) {
                    int64_t want = W->capsc ? W->capsc * 2 : 256;
                    sc_t *grown = (sc_t *)realloc(W->sc, (size_t)want * sizeof(sc_t));
                    if (!grown) {
                        witness_reset(W, left);
                        for (int32_t q = 0; q < out->len; q++) W->wn[out->a[q].node].target = 0;
                        return -1;
                    }
                    W->sc = grown;
                    W->capsc = want;
                }
                W->sc[W->nsc++] =
                    (sc_t){u, x, clamp_hops((int64_t)in->a[j].hops + out->a[i].hops), 0, via};
            }
            witness_reset(W, left);
        }
        for (int32_t i = 0; i < out->len; i++) W->wn[out->a[i].node].target = 0;
    }
    const tuning_t *t = &B->t;
    int64_t p = 1 + 1000 * t->c_diff * (added - removed) +
                1000 * t->c_level * (int64_t)B->level[v] +
                1000 * t->c_deleted * (int64_t)B->deleted[v];
    if (removed > 0) p += 1000 * t->c_quot * added / removed;
    if (removed_hops > 0) p += 1000 * t->c_hops * added_hops / removed_hops;
    *prio = p;
    return 0;
}

/* ---- the rounds ---- */

ALWAYS_INLINE int
before(const builder_t *B, int32_t a, int32_t b)
{
    return B->prio[a] < B->prio[b] || (B->prio[a] == B->prio[b] && a < b);
}

static void
task_priority(worker_t *W, int64_t i)
{
    builder_t *B = W->B;
    const int32_t v = B->upd[i];
    if (!W->oom && simulate(W, v, 0, &B->prio[v]) < 0) W->oom = 1;
}

static void
task_shortcuts(worker_t *W, int64_t i)
{
    builder_t *B = W->B;
    const int32_t v = B->set[i];
    const int64_t start = W->nsc;
    int64_t p;
    if (!W->oom && simulate(W, v, 1, &p) < 0) W->oom = 1;
    B->sc_thr[i] = W->id;
    B->sc_off[i] = start;
    B->sc_cnt[i] = (int32_t)(W->nsc - start);
}

/* Select this round's nodes: the local minima of (priority, id). */
static void
select_round(builder_t *B)
{
    int64_t keep = 0;
    B->nset = 0;
    for (int64_t i = 0; i < B->nalive; i++) {
        const int32_t v = B->alive[i];
        if (B->nstate[v] == N_CONTRACTED) continue;
        B->alive[keep++] = v;
        int minimum = 1;
        const adj_t *o = &B->out[v], *in = &B->in[v];
        for (int32_t k = 0; k < o->len && minimum; k++) minimum = before(B, v, o->a[k].node);
        for (int32_t k = 0; k < in->len && minimum; k++) minimum = before(B, v, in->a[k].node);
        if (minimum) B->set[B->nset++] = v;
    }
    B->nalive = keep;
    for (int64_t i = 0; i < B->nset; i++) B->nstate[B->set[i]] = N_ROUND;
}

static int
cmp_set(const void *a, const void *b, void *ctx)
{
    const builder_t *B = (const builder_t *)ctx;
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return before(B, x, y) ? -1 : before(B, y, x) ? 1 : 0;
}

/* Bottom-up merge sort of the round by (priority, id). */
static void
sort_set(builder_t *B, int32_t *tmp)
{
    int32_t *a = B->set, *t = tmp;
    const int64_t n = B->nset;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) t[k++] = cmp_set(&a[j], &a[i], B) < 0 ? a[j++] : a[i++];
            while (i < mid) t[k++] = a[i++];
            while (j < hi) t[k++] = a[j++];
        }
        int32_t *s = a;
        a = t;
        t = s;
    }
    if (a != B->set) memcpy(B->set, a, (size_t)n * sizeof(int32_t));
}

static int
out_reserve(builder_t *B, int up, int64_t want)
{
    int64_t *cap = up ? &B->up_cap : &B->down_cap;
    if (want <= *cap) return 0;
    int64_t ncap = *cap ? *cap + *cap / 2 : 1024;
    if (ncap < want) ncap = want;
    int32_t **node = up ? &B->up_node : &B->down_node;
    double **w = up ? &B->up_w : &B->down_w;
    int32_t *nn = (int32_t *)realloc(*node, (size_t)ncap * sizeof(int32_t));
    if (!nn) return -1;
    *node = nn;
    double *nw = (double *)realloc(*w, (size_t)ncap * sizeof(double));
    if (!nw) return -1;
    *w = nw;
    account(B, (ncap - *cap) * 12);
    *cap = ncap;
    return 0;
}

/* Contract v at rank r with its shortcuts sc[0:count]. 0, -1 OOM, -2 too big. */
static int
contract(builder_t *B, int32_t v, int64_t r, const sc_t *sc, int64_t count)
{
    adj_t *in = &B->in[v], *out = &B->out[v];
    const int64_t degree = (int64_t)in->len + out->len;
    if (degree > B->max_degree) B->max_degree = degree;
    const int32_t lv = B->level[v] + 1;
    for (int side = 0; side < 2; side++) {
        const adj_t *l = side ? in : out;
        for (int32_t i = 0; i < l->len; i++) {
            const int32_t x = l->a[i].node;
            if (B->stamp[x] == v + 1) continue; /* in both lists of v */
            B->stamp[x] = v + 1;
            B->deleted[x]++;
            if (B->level[x] < lv) B->level[x] = lv;
            if (!B->upd_mark[x]) {
                B->upd_mark[x] = 1;
                B->upd[B->nupd++] = x;
            }
        }
    }
    /* add_arc touches the lists of v's neighbours, never v's own (u, x != v) */
    for (int64_t k = 0; k < count; k++) {
        int rc = add_arc(B, sc[k].u, sc[k].x, sc[k].w, sc[k].hops);
        if (rc < 0) return rc;
    }
    for (int32_t i = 0; i < out->len; i++) adj_remove(&B->in[out->a[i].node], v);
    for (int32_t i = 0; i < in->len; i++) adj_remove_sorted(&B->out[in->a[i].node], v);

    if (out_reserve(B, 1, B->up_len + out->len) < 0) return -1;
    if (out_reserve(B, 0, B->down_len + in->len) < 0) return -1;
    for (int32_t i = 0; i < out->len; i++) {
        B->up_node[B->up_len] = out->a[i].node;
        B->up_w[B->up_len++] = out->a[i].w;
    }
    for (int32_t i = 0; i < in->len; i++) {
        B->down_node[B->down_len] = in->a[i].node;
        B->down_w[B->down_len++] = in->a[i].w;
    }
    B->up_start[r + 1] = B->up_len;
    B->down_start[r + 1] = B->down_len;
    adj_release(B, out);
    adj_release(B, in);
    return 0;
}

/* Contract every node; rank/order in internal ids. 0 or -1 (err set). */
static int
contract_all(builder_t *B, pool_t *P, int64_t *rank, int32_t *order, kerr_t *err)
{
    const int64_t n = B->n;
    int32_t *tmp = (int32_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!tmp) {
        err->code = E_NOMEM;
        return -1;
    }
    /* initial priorities */
    for (int64_t v = 0; v < n; v++) B->upd[v] = (int32_t)v, B->alive[v] = (int32_t)v;
    B->nalive = n;
    par_for(P, task_priority, n);
    if (pool_oom(P)) goto oom;
    int64_t r = 0;
    while (r < n) {
        select_round(B);
        sort_set(B, tmp);
        B->rounds++;
        par_for(P, task_shortcuts, B->nset);
        if (pool_oom(P)) goto oom;
        B->nupd = 0;
        for (int64_t i = 0; i < B->nset; i++) {
            const int32_t v = B->set[i];
            const sc_t *sc = P->workers[B->sc_thr[i]].sc + B->sc_off[i];
            rank[v] = r;
            order[r] = v;
            const int rc = contract(B, v, r, sc, B->sc_cnt[i]);
            if (rc < 0) {
                err->code = rc == -2 ? E_TOOBIG : E_NOMEM;
                free(tmp);
                return -1;
            }
            r++;
        }
        for (int64_t i = 0; i < B->nset; i++) B->nstate[B->set[i]] = N_CONTRACTED;
        for (int i = 0; i < P->nthreads; i++) P->workers[i].nsc = 0;
        /* neighbours of the round that are still there: new priorities */
        int64_t keep = 0;
        for (int64_t i = 0; i < B->nupd; i++) {
            const int32_t x = B->upd[i];
            B->upd_mark[x] = 0;
            if (B->nstate[x] == N_REMAINING) B->upd[keep++] = x;
        }
        B->nupd = keep;
        par_for(P, task_priority, B->nupd);
        if (pool_oom(P)) goto oom;
    }
    free(tmp);
    return 0;
oom:
    err->code = E_NOMEM;
    free(tmp);
    return -1;
}

static void
builder_free(builder_t *B)
{
    if (B->out) {
        for (int64_t v = 0; v < B->n; v++) free(B->out[v].a);
        free(B->out);
    }
    if (B->in) {
        for (int64_t v = 0; v < B->n; v++) free(B->in[v].a);
        free(B->in);
    }
    free(B->level);
    free(B->deleted);
    free(B->prio);
    free(B->nstate);
    free(B->alive);
    free(B->set);
    free(B->sc_off);
    free(B->sc_cnt);
    free(B->sc_thr);
    free(B->upd);
    free(B->upd_mark);
    free(B->stamp);
    free(B->up_start);
    free(B->down_start);
    free(B->up_node);
    free(B->down_node);
    free(B->up_w);
    free(B->down_w);
    memset(B, 0, sizeof *B);
}

/*
 * Breadth-first order over the arcs in both directions: perm[i] is the
 * original id of internal node i. Checks every arc's head. 0 or -1 (err set).
 */
static int
locality_order(const csr_t *g, int32_t *perm, kerr_t *err)
{
    const int64_t n = g->n, m = g->m;
    size_t k = (size_t)(n > 0 ? n : 1);
    int64_t *tptr = (int64_t *)calloc(k + 1, sizeof(int64_t));
    int32_t *tidx = (int32_t *)malloc((size_t)(m > 0 ? m : 1) * sizeof(int32_t));
    uint8_t *seen = (uint8_t *)calloc(k, 1);
    if (!tptr || !tidx || !seen) {
        err->code = E_NOMEM;
        goto fail;
    }
    for (int64_t u = 0; u < n; u++) {
        const int64_t a = g->ptr[u], b = g->ptr[u + 1];
        if (a < 0 || b < a || b > m) {
            err->code = E_INDPTR, err->what = "graph", err->i = u;
            goto fail;
        }
        for (int64_t e = a; e < b; e++) {
            const int64_t v = arc_head(g, e);
            if ((uint64_t)v >= (uint64_t)n) {
                err->code = E_INDEX, err->what = "graph", err->i = e, err->v = v;
                goto fail;
            }
            tptr[v + 1]++;
        }
    }
    for (int64_t v = 0; v < n; v++) tptr[v + 1] += tptr[v];
    for (int64_t u = 0; u < n; u++) {
        for (int64_t e = g->ptr[u]; e < g->ptr[u + 1]; e++) {
            tidx[tptr[arc_head(g, e)]++] = (int32_t)u;
        }
    }
    for (int64_t v = n; v > 0; v--) tptr[v] = tptr[v - 1];
    tptr[0] = 0;
    int64_t tail = 0;
    for (int64_t s = 0; s < n; s++) {
        if (seen[s]) continue;
        seen[s] = 1;
        int64_t head = tail;
        perm[tail++] = (int32_t)s;
        while (head < tail) {
            const int32_t u = perm[head++];
            for (int64_t e = g->ptr[u]; e < g->ptr[u + 1]; e++) {
                const int64_t v = arc_head(g, e);
                if (!seen[v]) seen[v] = 1, perm[tail++] = (int32_t)v;
            }
            for (int64_t e = tptr[u]; e < tptr[u + 1]; e++) {
                const int32_t v = tidx[e];
                if (!seen[v]) seen[v] = 1, perm[tail++] = v;
            }
        }
    }
    free(tptr);
    free(tidx);
    free(seen);
    return 0;
fail:
    free(tptr);
    free(tidx);
    free(seen);
    return -1;
}

/*
 * Load the graph in internal ids (perm, inv), merging parallel arcs and
 * dropping loops. Arc heads were checked by locality_order; weights here.
 */
static int
builder_init(builder_t *B, const csr_t *g, const int32_t *perm, const int32_t *inv,
             int64_t settle_limit, const tuning_t *t, kerr_t *err)
{
    const int64_t n = g->n;
    size_t k = (size_t)(n > 0 ? n : 1);
    memset(B, 0, sizeof *B);
    B->n = n;
    B->t = *t;
    B->settle_limit = settle_limit;
    B->out = (adj_t *)calloc(k, sizeof(adj_t));
    B->in = (adj_t *)calloc(k, sizeof(adj_t));
    B->level = (int32_t *)calloc(k, sizeof(int32_t));
    B->deleted = (int32_t *)calloc(k, sizeof(int32_t));
    B->prio = (int64_t *)calloc(k, sizeof(int64_t));
    B->nstate = (uint8_t *)calloc(k, 1);
    B->alive = (int32_t *)malloc(k * sizeof(int32_t));
    B->set = (int32_t *)malloc(k * sizeof(int32_t));
    B->sc_off = (int64_t *)malloc(k * sizeof(int64_t));
    B->sc_cnt = (int32_t *)malloc(k * sizeof(int32_t));
    B->sc_thr = (int32_t *)malloc(k * sizeof(int32_t));
    B->upd = (int32_t *)malloc(k * sizeof(int32_t));
    B->upd_mark = (uint8_t *)calloc(k, 1);
    B->stamp = (int32_t *)calloc(k, sizeof(int32_t));
    B->up_start = (int64_t *)calloc(k + 1, sizeof(int64_t));
    B->down_start = (int64_t *)calloc(k + 1, sizeof(int64_t));
    account(B, (int64_t)k * (int64_t)(2 * sizeof(adj_t) + 4 + 4 + 8 + 1 + 4 + 4 + 8 + 4 + 4 +
                                      4 + 1 + 4 + 16));
    if (!B->out || !B->in || !B->level || !B->deleted || !B->prio || !B->nstate ||
        !B->alive || !B->set || !B->sc_off || !B->sc_cnt || !B->sc_thr || !B->upd ||
        !B->upd_mark || !B->stamp || !B->up_start || !B->down_start) {
        err->code = E_NOMEM;
        return -1;
    }
    /* out lists, deduplicated with a position marker (pos + 1, 0 = none; reset per row) */
    int32_t *pos = B->sc_cnt;
    int32_t *indeg = B->sc_thr;
    memset(pos, 0, k * sizeof(int32_t));
    memset(indeg, 0, k * sizeof(int32_t));
    for (int64_t u = 0; u < n; u++) {
        const int64_t ou = perm[u];
        const int64_t a = g->ptr[ou], b = g->ptr[ou + 1];
        if (b - a > INT32_MAX) {
            err->code = E_TOOBIG;
            return -1;
        }
        adj_t *l = &B->out[u];
        if (b > a && adj_reserve(B, l, b - a) < 0) {
            err->code = E_NOMEM;
            return -1;
        }
        for (int64_t e = a; e < b; e++) {
            const int32_t v = inv[arc_head(g, e)];
            const double w = g->w[e];
            if (!(w >= 0.0 && w < INFINITY)) {
                err->code = E_WEIGHT, err->what = "graph", err->i = e, err->x = w;
                return -1;
            }
            if (v == u) continue;
            if (pos[v] > 0) {
                arc_t *x = &l->a[pos[v] - 1];
                if (w < x->w) x->w = w;
            } else {
                if (indeg[v] == INT32_MAX) {
                    err->code = E_TOOBIG;
                    return -1;
                }
                l->a[l->len] = (arc_t){v, 1, w};
                pos[v] = ++l->len;
                indeg[v]++;
            }
        }
        for (int32_t i = 0; i < l->len; i++) pos[l->a[i].node] = 0;
        qsort(l->a, (size_t)l->len, sizeof(arc_t), cmp_arc);
        B->arcs_in += l->len;
    }
    for (int64_t v = 0; v < n; v++) {
        if (indeg[v] > 0 && adj_reserve(B, &B->in[v], indeg[v]) < 0) {
            err->code = E_NOMEM;
            return -1;
        }
    }
    for (int64_t u = 0; u < n; u++) {
        const adj_t *l = &B->out[u];
        for (int32_t i = 0; i < l->len; i++) {
            adj_t *t_ = &B->in[l->a[i].node];
            t_->a[t_->len++] = (arc_t){(int32_t)u, 1, l->a[i].w};
        }
    }
    return 0;
}

/* Sort a segment (node ids, weights) by key ascending; insertion sort for short ones. */
typedef struct {
    int64_t key;
    int32_t node;
    double w;
} sortent_t;

static int
cmp_sortent(const void *a, const void *b)
{
    const sortent_t *x = (const sortent_t *)a, *y = (const sortent_t *)b;
    return (x->key > y->key) - (x->key < y->key);
}

static void
sort_segment(sortent_t *s, int64_t len)
{
    if (len > 24) {
        qsort(s, (size_t)len, sizeof(sortent_t), cmp_sortent);
        return;
    }
    for (int64_t i = 1; i < len; i++) {
        sortent_t x = s[i];
        int64_t j = i - 1;
        while (j >= 0 && s[j].key > x.key) {
            s[j + 1] = s[j];
            j--;
        }
        s[j + 1] = x;
    }
}

typedef struct {
    int64_t *rank;
    int32_t *order;
    int64_t *up_ptr;
    int32_t *up_idx;
    double *up_w;
    int64_t *down_ptr;
    int32_t *down_idx;
    double *down_w;
    int64_t *rup_ptr;
    int32_t *rup_idx;
    double *rup_w;
    int64_t *rdown_ptr;
    int32_t *rdown_idx;
    double *rdown_w;
} result_t;

/*
 * Rank-space rows from the rank-order output (internal ids): neighbours as
 * ranks, ascending. Frees node/w.
 */
static void
rank_rows(int64_t n, const int64_t *start, int32_t **node, double **w, const int64_t *irank,
          sortent_t *tmp, int64_t *ptr, int32_t *idx, double *wout)
{
    for (int64_t r = 0; r <= n; r++) ptr[r] = start[r];
    for (int64_t r = 0; r < n; r++) {
        const int64_t a = start[r], len = start[r + 1] - a;
        for (int64_t i = 0; i < len; i++)
            tmp[i] = (sortent_t){irank[(*node)[a + i]], 0, (*w)[a + i]};
        sort_segment(tmp, len);
        for (int64_t i = 0; i < len; i++) {
            idx[a + i] = (int32_t)tmp[i].key;
            wout[a + i] = tmp[i].w;
        }
    }
    free(*node);
    free(*w);
    *node = NULL;
    *w = NULL;
}

/* Node-space rows (original ids) from rank-space ones. */
static void
node_rows(int64_t n, const int64_t *rank, const int32_t *order, const int64_t *rptr,
          const int32_t *ridx, const double *rw, int64_t *ptr, int32_t *idx, double *w)
{
    ptr[0] = 0;
    for (int64_t v = 0; v < n; v++) ptr[v + 1] = ptr[v] + (rptr[rank[v] + 1] - rptr[rank[v]]);
    for (int64_t v = 0; v < n; v++) {
        const int64_t a = rptr[rank[v]], len = rptr[rank[v] + 1] - a, o = ptr[v];
        for (int64_t i = 0; i < len; i++) {
            idx[o + i] = order[ridx[a + i]];
            w[o + i] = rw[a + i];
        }
    }
}

/*
 * Fill the final arrays from the rank-order output (internal ids), freeing it
 * as it goes. 0 or -1 (OOM).
 */
static int
finish(builder_t *B, const int32_t *perm, const int64_t *irank, const int32_t *iorder,
       const result_t *R)
{
    const int64_t n = B->n;
    int64_t maxseg = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t a = B->up_start[r + 1] - B->up_start[r];
        int64_t b = B->down_start[r + 1] - B->down_start[r];
        if (a > maxseg) maxseg = a;
        if (b > maxseg) maxseg = b;
    }
    sortent_t *tmp = (sortent_t *)malloc((size_t)(maxseg > 0 ? maxseg : 1) * sizeof(sortent_t));
    if (!tmp) return -1;
    for (int64_t r = 0; r < n; r++) R->order[r] = perm[iorder[r]];
    for (int64_t i = 0; i < n; i++) R->rank[perm[i]] = irank[i];
    rank_rows(n, B->up_start, &B->up_node, &B->up_w, irank, tmp, R->rup_ptr, R->rup_idx,
              R->rup_w);
    rank_rows(n, B->down_start, &B->down_node, &B->down_w, irank, tmp, R->rdown_ptr,
              R->rdown_idx, R->rdown_w);
    free(tmp);
    node_rows(n, R->rank, R->order, R->rup_ptr, R->rup_idx, R->rup_w, R->up_ptr, R->up_idx,
              R->up_w);
    node_rows(n, R->rank, R->order, R->rdown_ptr, R->rdown_idx, R->rdown_w, R->down_ptr,
              R->down_idx, R->down_w);
    return 0;
}

static int
dict_set_int(PyObject *d, const char *key, int64_t value)
{
    PyObject *v = PyLong_FromLongLong((long long)value);
    if (!v) return -1;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}

#define N_ARRAYS 14
#define MAX_BUILD_THREADS 64

static PyObject *
h_build(PyObject *self, PyObject *args)
{
    static const char *F = "build";
    PyObject *o_ptr, *o_idx, *o_w;
    long long settle_limit;
    int nthreads;
    if (!PyArg_ParseTuple(args, "OOOLi:build", &o_ptr, &o_idx, &o_w, &settle_limit, &nthreads))
        return NULL;
    if (settle_limit < 1)
        return PyErr_Format(PyExc_ValueError, "%s(): settle_limit must be >= 1", F);
    if (nthreads < 1 || nthreads > MAX_BUILD_THREADS)
        return PyErr_Format(PyExc_ValueError, "%s(): threads must be in 1..%d", F,
                            MAX_BUILD_THREADS);
    const tuning_t t = TUNING;

    bufset_t set = {0};
    csr_t g;
    PyObject *result = NULL;
    PyObject *arrays[N_ARRAYS] = {NULL};
    builder_t B;
    pool_t P;
    memset(&B, 0, sizeof B);
    memset(&P, 0, sizeof P);
    int32_t *perm = NULL, *inv = NULL, *iorder = NULL;
    int64_t *irank = NULL;
    worker_t totals = {0};
    if (get_csr(&set, F, "graph", o_ptr, o_idx, o_w, -1, K_I32 | K_I64, &g) < 0) goto done;
    const int64_t n = g.n;
    kerr_t err = {E_OK, NULL, NULL, 0, 0, 0.0};

    Py_BEGIN_ALLOW_THREADS
    size_t k = (size_t)(n > 0 ? n : 1);
    perm = (int32_t *)malloc(k * sizeof(int32_t));
    inv = (int32_t *)malloc(k * sizeof(int32_t));
    irank = (int64_t *)malloc(k * sizeof(int64_t));
    iorder = (int32_t *)malloc(k * sizeof(int32_t));
    if (!perm || !inv || !irank || !iorder) {
        err.code = E_NOMEM;
    } else if (locality_order(&g, perm, &err) == 0) {
        for (int64_t i = 0; i < n; i++) inv[perm[i]] = (int32_t)i;
        if (builder_init(&B, &g, perm, inv, settle_limit, &t, &err) == 0) {
            if (pool_start(&P, &B, nthreads) < 0)
                err.code = E_NOMEM;
            else
                contract_all(&B, &P, irank, iorder, &err);
        }
    }
    for (int i = 0; P.workers && i < P.nthreads; i++) {
        totals.n_sim += P.workers[i].n_sim;
        totals.n_witness += P.workers[i].n_witness;
        totals.n_wsettled += P.workers[i].n_wsettled;
        totals.n_cut += P.workers[i].n_cut;
    }
    pool_stop(&P);
    free(inv);
    inv = NULL;
    Py_END_ALLOW_THREADS

    if (err.code != E_OK) {
        raise_kerr(F, &err);
        goto done;
    }
    const int64_t m_up = B.up_len, m_down = B.down_len;
    const int64_t sizes[N_ARRAYS] = {n * 8,       n * 4,      (n + 1) * 8, m_up * 4,
                                     m_up * 8,    (n + 1) * 8, m_down * 4, m_down * 8,
                                     (n + 1) * 8, m_up * 4,   m_up * 8,    (n + 1) * 8,
                                     m_down * 4,  m_down * 8};
    for (int i = 0; i < N_ARRAYS; i++) {
        arrays[i] = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)sizes[i]);
        if (!arrays[i]) goto done;
    }
    result_t R;
    R.rank = (int64_t *)PyByteArray_AS_STRING(arrays[0]);
    R.order = (int32_t *)PyByteArray_AS_STRING(arrays[1]);
    R.up_ptr = (int64_t *)PyByteArray_AS_STRING(arrays[2]);
    R.up_idx = (int32_t *)PyByteArray_AS_STRING(arrays[3]);
    R.up_w = (double *)PyByteArray_AS_STRING(arrays[4]);
    R.down_ptr = (int64_t *)PyByteArray_AS_STRING(arrays[5]);
    R.down_idx = (int32_t *)PyByteArray_AS_STRING(arrays[6]);
    R.down_w = (double *)PyByteArray_AS_STRING(arrays[7]);
    R.rup_ptr = (int64_t *)PyByteArray_AS_STRING(arrays[8]);
    R.rup_idx = (int32_t *)PyByteArray_AS_STRING(arrays[9]);
    R.rup_w = (double *)PyByteArray_AS_STRING(arrays[10]);
    R.rdown_ptr = (int64_t *)PyByteArray_AS_STRING(arrays[11]);
    R.rdown_idx = (int32_t *)PyByteArray_AS_STRING(arrays[12]);
    R.rdown_w = (double *)PyByteArray_AS_STRING(arrays[13]);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = finish(&B, perm, irank, iorder, &R);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
        goto done;
    }
    {
        static const char *names[N_ARRAYS] = {
            "rank",           "order",             "up_indptr",         "up_indices",
            "up_weights",     "down_indptr",       "down_indices",      "down_weights",
            "rank_up_indptr", "rank_up_indices",   "rank_up_weights",   "rank_down_indptr",
            "rank_down_indices", "rank_down_weights"};
        PyObject *d = PyDict_New();
        PyObject *stats = PyDict_New();
        int bad = !d || !stats;
        for (int i = 0; i < N_ARRAYS && !bad; i++)
            bad = PyDict_SetItemString(d, names[i], arrays[i]) < 0;
        bad = bad || dict_set_int(stats, "arcs_input", B.arcs_in) < 0 ||
              dict_set_int(stats, "arcs_up", B.up_len) < 0 ||
              dict_set_int(stats, "arcs_down", B.down_len) < 0 ||
              dict_set_int(stats, "shortcuts", B.n_added) < 0 ||
              dict_set_int(stats, "shortcuts_improving", B.n_improved) < 0 ||
              dict_set_int(stats, "rounds", B.rounds) < 0 ||
              dict_set_int(stats, "simulations", totals.n_sim) < 0 ||
              dict_set_int(stats, "witness_searches", totals.n_witness) < 0 ||
              dict_set_int(stats, "witness_settled", totals.n_wsettled) < 0 ||
              dict_set_int(stats, "witness_cut_short", totals.n_cut) < 0 ||
              dict_set_int(stats, "witness_sim_limit", B.t.sim_limit) < 0 ||
              dict_set_int(stats, "max_degree_contracted", B.max_degree) < 0 ||
              dict_set_int(stats, "peak_build_bytes", B.peak_bytes) < 0 ||
              PyDict_SetItemString(d, "stats", stats) < 0;
        Py_XDECREF(stats);
        if (bad) {
            Py_XDECREF(d);
            goto done;
        }
        result = d;
    }
done:
    builder_free(&B);
    free(perm);
    free(inv);
    free(irank);
    free(iorder);
    for (int i = 0; i < N_ARRAYS; i++) Py_XDECREF(arrays[i]);
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Module                                                                    */
/* ------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"build", h_build, METH_VARARGS,
     "build(indptr, indices, weights, settle_limit, threads) -> dict\n\nContract the graph; "
     "returns the hierarchy's arrays as bytearrays and a 'stats' dict."},
    {"backward", h_backward, METH_VARARGS,
     "backward(rank_up x3, rank_down x3, target_ptr, target_rank, target_offset, bound, col0) "
     "-> (node int32, col int32, dist float64) bytearrays\n\nBucket entries of one backward "
     "upward search per target row."},
    {"bucket_sort", h_bucket_sort, METH_VARARGS,
     "bucket_sort(node, col, dist, out_ptr, out_col, out_dist)\n\nCSR buckets by node (stable)."},
    {"scan", h_scan, METH_VARARGS,
     "scan(rank_up x3, rank_down x3, bucket_ptr, bucket_col, bucket_dist, seed_ptr, seed_rank, "
     "seed_offset, bound, limit, ncols, out)\n\nOne forward upward search per seed row over "
     "the buckets; out (rows * ncols float64) is overwritten."},
    {"phast", h_phast, METH_VARARGS,
     "phast(rank_up_indptr, rank_up_indices, rank_up_weights, order, rank_down_indptr, "
     "rank_down_indices, rank_down_weights, seed_rank, seed_offset, seed_label, limit, "
     "reverse, out_dist, out_label)\n\nUpward search from all seeds (ranks), then a sweep "
     "in decreasing rank; out_dist/out_label by node id. reverse: distances to the seeds."},
    {"search_space", h_search_space, METH_VARARGS,
     "search_space(rank_up x3, rank_down x3, ranks, backward, out_count)\n\nNodes settled (not "
     "stalled) by an upward search from each node."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    "coverage.routing._hierarchy",
    "Contraction hierarchy build and queries (GIL released); use coverage.routing.hierarchy.",
    -1,
    methods,
    NULL, /* m_slots */
    NULL, /* m_traverse */
    NULL, /* m_clear */
    NULL, /* m_free */
};

PyMODINIT_FUNC
PyInit__hierarchy(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "HIERARCHY_API", HIERARCHY_API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
