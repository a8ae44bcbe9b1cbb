/*
 * coverage.routing._kernels: exact Dijkstra kernels on CSR graphs, GIL released, and
 * two isochrone steps after a search (best time per cell, outline rings of cells).
 *
 * Private module: call it through coverage.routing.kernels, which validates the
 * arguments, allocates the outputs and splits rows across threads. Every
 * function here takes C-contiguous buffers (numpy arrays through the buffer
 * protocol; no numpy headers) and fills the output buffers it is given.
 *
 * Graph: indptr int64[n+1], indices int32 or int64[m], weights float64[m].
 * The kernels check every edge they scan (target in range, weight finite and
 * >= 0) and every row span of indptr they read, so a malformed graph raises
 * ValueError instead of reading out of bounds.
 *
 * Search: indexed 4-ary min-heap with decrease-key through a position array
 * (state[v] >= 0 is v's heap slot, UNSEEN / SETTLED otherwise), bottom-up
 * pops, and a prefetch of the edges of the next node likely to be settled.
 * Heap keys are distances; in multi_source they are (dist, label) pairs in
 * lexicographic order, so that equal distances are settled smallest label
 * first. Nodes whose tentative distance exceeds the limit are never pushed.
 * Scratch arrays have n entries and are allocated once per call; between rows
 * only the touched entries are reset, so rows with a small limit cost what
 * they visit, not n. Every row is specialised (inlined) for int32 / int64
 * indices and for labels or not.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KERNEL_API 2

#define UNSEEN ((int32_t)-1)
#define SETTLED ((int32_t)-2)

#define BUF_MODULE "_kernels"
#include "_buffers.h"

/* ------------------------------------------------------------------------ */
/* Graph, seeds, errors                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    int64_t n, m;
    const int64_t *indptr;
    const int32_t *idx32; /* exactly one of idx32 / idx64 is set */
    const int64_t *idx64;
    const double *w;
} graph_t;

typedef struct {
    const int64_t *node;
    const double *off;
    const int64_t *label; /* NULL except in multi_source */
    int64_t count;
} seeds_t;

enum { E_OK = 0, E_NOMEM, E_INDPTR, E_INDEX, E_WEIGHT, E_SEEDNODE, E_OFFSET };

typedef struct {
    int code;
    int64_t i;
    int64_t v;
    double x;
} kerr_t;

static PyObject *
raise_kerr(const char *func, const kerr_t *err)
{
    switch (err->code) {
    case E_NOMEM:
        return PyErr_NoMemory();
    case E_INDPTR:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): graph.indptr is not a valid row pointer at node %lld "
                            "(indptr[%lld:%lld+2] must be non-decreasing and within the edges)",
                            func, (long long)err->i, (long long)err->i, (long long)err->i);
    case E_INDEX:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): graph.indices[%lld] = %lld is not a node id (0 <= id < n)",
                            func, (long long)err->i, (long long)err->v);
    case E_WEIGHT: {
        char text[64];
        PyOS_snprintf(text, sizeof text, "%.17g", err->x);
        return PyErr_Format(PyExc_ValueError,
                            "%s(): graph.weights[%lld] = %s; weights must be >= 0 and not NaN",
                            func, (long long)err->i, text);
    }
    case E_SEEDNODE:
        return PyErr_Format(PyExc_ValueError,
                            "%s(): seed_node[%lld] = %lld is not a node id (0 <= id < n)", func,
                            (long long)err->i, (long long)err->v);
    case E_OFFSET:
        return PyErr_Format(PyExc_ValueError, "%s(): seed_offset[%lld] is not finite", func,
                            (long long)err->i);
    default:
        return PyErr_Format(PyExc_RuntimeError, "%s(): internal error %d", func, err->code);
    }
}

/* indptr, indices, weights: fill g; raise on mismatch. */
static int
get_graph(bufset_t *set, const char *func, PyObject *indptr, PyObject *indices,
          PyObject *weights, graph_t *g)
{
    buf_t *bp = get_buf(set, indptr, func, "graph.indptr", K_I64, 0);
    if (!bp) return -1;
    buf_t *bi = get_buf(set, indices, func, "graph.indices", K_I32 | K_I64, 0);
    if (!bi) return -1;
    buf_t *bw = get_buf(set, weights, func, "graph.weights", K_F64, 0);
    if (!bw) return -1;
    if (bp->len < 1) {
        PyErr_Format(PyExc_ValueError, "%s(): graph.indptr must have n+1 >= 1 entries", func);
        return -1;
    }
    g->n = bp->len - 1;
    g->m = bi->len;
    if (g->n > INT32_MAX - 1) {
        PyErr_Format(PyExc_ValueError, "%s(): graphs of more than %d nodes are not supported", func,
                     INT32_MAX - 1);
        return -1;
    }
    if (bw->len != bi->len) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): graph.weights has %zd entries but graph.indices has %zd", func,
                     bw->len, bi->len);
        return -1;
    }
    g->indptr = (const int64_t *)bp->view.buf;
    if (g->indptr[0] != 0 || g->indptr[g->n] != g->m) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): graph.indptr must start at 0 and end at len(indices) = %lld", func,
                     (long long)g->m);
        return -1;
    }
    g->idx32 = bi->kind == K_I32 ? (const int32_t *)bi->view.buf : NULL;
    g->idx64 = bi->kind == K_I64 ? (const int64_t *)bi->view.buf : NULL;
    g->w = (const double *)bw->view.buf;
    return 0;
}

/* seed_ptr (rows+1), seed_node, seed_offset: checked for memory safety. */
static int
get_seeds(bufset_t *set, const char *func, PyObject *ptr_obj, PyObject *node_obj,
          PyObject *off_obj, const int64_t **ptr, int64_t *rows, seeds_t *sd)
{
    buf_t *bp = NULL;
    if (ptr_obj) {
        bp = get_buf(set, ptr_obj, func, "seed_ptr", K_I64, 0);
        if (!bp) return -1;
    }
    buf_t *bn = get_buf(set, node_obj, func, "seed_node", K_I64, 0);
    if (!bn) return -1;
    buf_t *bo = get_buf(set, off_obj, func, "seed_offset", K_F64, 0);
    if (!bo) return -1;
    if (bn->len != bo->len) {
        PyErr_Format(PyExc_ValueError, "%s(): seed_node has %zd entries but seed_offset has %zd",
                     func, bn->len, bo->len);
        return -1;
    }
    sd->node = (const int64_t *)bn->view.buf;
    sd->off = (const double *)bo->view.buf;
    sd->label = NULL;
    sd->count = bn->len;
    if (bp) {
        if (bp->len < 1) {
            PyErr_Format(PyExc_ValueError, "%s(): seed_ptr must have rows+1 >= 1 entries", func);
            return -1;
        }
        const int64_t *p = (const int64_t *)bp->view.buf;
        for (Py_ssize_t r = 0; r + 1 < bp->len; r++) {
            if (p[r] < 0 || p[r + 1] < p[r] || p[r + 1] > sd->count) {
                PyErr_Format(PyExc_ValueError,
                             "%s(): seed_ptr must be non-decreasing within [0, len(seed_node)] "
                             "(fails at row %zd)",
                             func, r);
                return -1;
            }
        }
        if (p[0] < 0 || p[0] > sd->count) {
            PyErr_Format(PyExc_ValueError, "%s(): seed_ptr[0] is out of [0, len(seed_node)]", func);
            return -1;
        }
        *ptr = p;
        *rows = bp->len - 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Indexed 4-ary heap                                                        */
/* ------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define ALWAYS_INLINE static __forceinline
#else
#define ALWAYS_INLINE static inline
#endif

typedef struct {
    double key;
    int32_t node;
    int32_t unused;
} hent_t;

/* Slots at and past the heap's size hold this, so that heap_pop compares 4
 * children without bounds checks. Keys pushed are always finite (the limit is
 * clamped to DBL_MAX), so a sentinel never wins over a real entry. */
static const hent_t SENTINEL = {INFINITY, 0, 0};
#define HEAP_PAD 4

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

typedef struct {
    hent_t *a; /* capacity n + HEAP_PAD */
    int64_t size;
    int32_t *state;     /* heap slot of each node, or UNSEEN / SETTLED */
    const int64_t *lab; /* NULL, or the label of each node: ties of key go to the smallest */
} heap_t;

ALWAYS_INLINE int
hless(const heap_t *h, const hent_t *x, const hent_t *y)
{
    if (!h->lab) return x->key < y->key;
    return x->key < y->key || (x->key == y->key && h->lab[x->node] < h->lab[y->node]);
}

ALWAYS_INLINE int64_t
min_child(const heap_t *h, int64_t c)
{
    const hent_t *a = h->a;
    if (!h->lab) { /* branch-free tournament */
        int64_t b01 = a[c + 1].key < a[c].key ? c + 1 : c;
        int64_t b23 = a[c + 3].key < a[c + 2].key ? c + 3 : c + 2;
        return a[b23].key < a[b01].key ? b23 : b01;
    }
    int64_t b = c;
    for (int k = 1; k < 4; k++) {
        if (hless(h, &a[c + k], &a[b])) b = c + k;
    }
    return b;
}

ALWAYS_INLINE void
sift_up(heap_t *h, int64_t i)
{
    hent_t e = h->a[i];
    while (i > 0) {
        int64_t p = (i - 1) >> 2;
        if (!hless(h, &e, &h->a[p])) break;
        h->a[i] = h->a[p];
        h->state[h->a[i].node] = (int32_t)i;
        i = p;
    }
    h->a[i] = e;
    h->state[e.node] = (int32_t)i;
}

ALWAYS_INLINE void
heap_push(heap_t *h, int32_t v, double key)
{
    int64_t i = h->size++;
    h->a[i].key = key;
    h->a[i].node = v;
    sift_up(h, i);
}

/* The key of v went down (or its label, at an equal key). */
ALWAYS_INLINE void
heap_decrease(heap_t *h, int32_t v, double key)
{
    int64_t i = h->state[v];
    h->a[i].key = key;
    sift_up(h, i);
}

/*
 * Remove the root. Bottom-up: the hole left at the root follows the smallest
 * child down to a leaf (no comparison with the moved element, so no
 * unpredictable branch per level), then the last element fills it and sifts up
 * (usually not at all: it is among the largest).
 */
ALWAYS_INLINE hent_t
heap_pop(heap_t *h)
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
        int64_t b = min_child(h, c);
        h->a[i] = h->a[b];
        h->state[h->a[i].node] = (int32_t)i;
        i = b;
    }
    h->a[i] = last;
    sift_up(h, i);
    return top;
}

/* ------------------------------------------------------------------------ */
/* One Dijkstra row                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    int32_t *state;   /* n, all UNSEEN between rows */
    double *dist;     /* n, valid where state != UNSEEN */
    hent_t *heap;     /* n + HEAP_PAD, all SENTINEL between rows */
    int32_t *touched; /* n: nodes whose state changed in this row */
    int64_t ntouched;
    int32_t *settled; /* n or NULL: settle order of the row */
    int64_t nsettled;
} scratch_t;

static void
scratch_free(scratch_t *s)
{
    free(s->state);
    free(s->dist);
    free(s->heap);
    free(s->touched);
    free(s->settled);
    memset(s, 0, sizeof *s);
}

static int
scratch_alloc(scratch_t *s, int64_t n, int want_settled)
{
    size_t k = (size_t)(n > 0 ? n : 1);
    memset(s, 0, sizeof *s);
    s->state = (int32_t *)malloc(k * sizeof(int32_t));
    s->dist = (double *)malloc(k * sizeof(double));
    s->heap = (hent_t *)malloc((k + HEAP_PAD) * sizeof(hent_t));
    s->touched = (int32_t *)malloc(k * sizeof(int32_t));
    if (want_settled) s->settled = (int32_t *)malloc(k * sizeof(int32_t));
    if (!s->state || !s->dist || !s->heap || !s->touched || (want_settled && !s->settled)) {
        scratch_free(s);
        return -1;
    }
    for (int64_t v = 0; v < n; v++) s->state[v] = UNSEEN;
    for (size_t i = 0; i < k + HEAP_PAD; i++) s->heap[i] = SENTINEL;
    return 0;
}

static inline void
scratch_reset(scratch_t *s, int64_t heap_left)
{
    for (int64_t i = 0; i < s->ntouched; i++) s->state[s->touched[i]] = UNSEEN;
    for (int64_t i = 0; i < heap_left; i++) s->heap[i] = SENTINEL;
    s->ntouched = 0;
    s->nsettled = 0;
}

/*
 * Dijkstra from seeds [s0, s1). s->dist[v] is valid where s->state[v] != UNSEEN
 * and final where it is SETTLED; pred and lab (n, or NULL) likewise. With lab,
 * keys are (dist, label) in lexicographic order. With is_target, stops once
 * n_targets distinct targets are settled. Returns the number of entries left in
 * the heap, or -1 with err set; either way the scratch is left dirty: call
 * scratch_reset (or scratch_free). `wide` (int64 indices) and `lab` are
 * constants in each specialised copy below.
 */
ALWAYS_INLINE int64_t
run_row_impl(const graph_t *g, scratch_t *s, int64_t *pred, int64_t *lab,
             const seeds_t *sd, int64_t s0, int64_t s1, double limit, const uint8_t *is_target,
             int64_t n_targets, kerr_t *err, const int wide)
{
    int32_t *state = s->state;
    double *dist = s->dist;
    heap_t h = {s->heap, 0, state, lab};
    const int64_t n = g->n;
    const int64_t *indptr = g->indptr;
    const int32_t *idx32 = g->idx32;
    const int64_t *idx64 = g->idx64;
    const double *wt = g->w;
    limit = limit < DBL_MAX ? limit : DBL_MAX; /* never push an infinite key */

    for (int64_t k = s0; k < s1; k++) {
        int64_t v = sd->node[k];
        double off = sd->off[k];
        if (v < 0 || v >= n) {
            err->code = E_SEEDNODE, err->i = k, err->v = v;
            return -1;
        }
        if (!isfinite(off)) {
            err->code = E_OFFSET, err->i = k;
            return -1;
        }
        if (!(off <= limit)) continue;
        int32_t st = state[v];
        if (st == UNSEEN) {
            dist[v] = off;
            if (lab) lab[v] = sd->label[k];
            if (pred) pred[v] = -1;
            s->touched[s->ntouched++] = (int32_t)v;
            heap_push(&h, (int32_t)v, off);
        } else if (off < dist[v] || (lab && off == dist[v] && sd->label[k] < lab[v])) {
            dist[v] = off;
            if (lab) lab[v] = sd->label[k];
            heap_decrease(&h, (int32_t)v, off);
        }
    }

    int64_t remaining = n_targets;
    while (h.size > 0) {
        const hent_t top = heap_pop(&h);
        const int32_t u = top.node;
        const double du = top.key;
        state[u] = SETTLED;
        if (h.size > 0) {
            /* the new root is most often the next node settled: fetch its edges now */
            const int64_t next = indptr[h.a[0].node];
            if ((uint64_t)next < (uint64_t)g->m) {
                if (wide)
                    PREFETCH(&idx64[next]);
                else
                    PREFETCH(&idx32[next]);
                PREFETCH(&wt[next]);
            }
        }
        if (s->settled) s->settled[s->nsettled++] = u;
        if (is_target && is_target[u] && --remaining == 0) break;
        const int64_t a = indptr[u], b = indptr[u + 1];
        if (a < 0 || b < a || b > g->m) {
            err->code = E_INDPTR, err->i = u;
            return -1;
        }
        const int64_t tie = lab ? lab[u] : 0;
        for (int64_t e = a; e < b; e++) {
            const int64_t v = wide ? idx64[e] : (int64_t)idx32[e];
            const double w = wt[e];
            if ((uint64_t)v >= (uint64_t)n) {
                err->code = E_INDEX, err->i = e, err->v = v;
                return -1;
            }
            if (!(w >= 0.0 && w < INFINITY)) {
                err->code = E_WEIGHT, err->i = e, err->x = w;
                return -1;
            }
            const double nd = du + w;
            if (!(nd <= limit)) continue;
            const int32_t st = state[v];
            if (st == UNSEEN) {
                dist[v] = nd;
                if (lab) lab[v] = tie;
                if (pred) pred[v] = u;
                s->touched[s->ntouched++] = (int32_t)v;
                heap_push(&h, (int32_t)v, nd);
            } else if (st >= 0 && (nd < dist[v] || (lab && nd == dist[v] && tie < lab[v]))) {
                dist[v] = nd;
                if (lab) lab[v] = tie;
                if (pred) pred[v] = u;
                heap_decrease(&h, (int32_t)v, nd);
            }
        }
    }
    return h.size;
}

static int64_t
run_plain32(const graph_t *g, scratch_t *s, int64_t *pred, const seeds_t *sd,
            int64_t s0, int64_t s1, double limit, const uint8_t *is_target, int64_t n_targets,
            kerr_t *err)
{
    return run_row_impl(g, s, pred, NULL, sd, s0, s1, limit, is_target, n_targets, err, 0);
}

static int64_t
run_plain64(const graph_t *g, scratch_t *s, int64_t *pred, const seeds_t *sd,
            int64_t s0, int64_t s1, double limit, const uint8_t *is_target, int64_t n_targets,
            kerr_t *err)
{
    return run_row_impl(g, s, pred, NULL, sd, s0, s1, limit, is_target, n_targets, err, 1);
}

static int64_t
run_label32(const graph_t *g, scratch_t *s, int64_t *lab, const seeds_t *sd,
            int64_t s0, int64_t s1, double limit, kerr_t *err)
{
    return run_row_impl(g, s, NULL, lab, sd, s0, s1, limit, NULL, 0, err, 0);
}

static int64_t
run_label64(const graph_t *g, scratch_t *s, int64_t *lab, const seeds_t *sd,
            int64_t s0, int64_t s1, double limit, kerr_t *err)
{
    return run_row_impl(g, s, NULL, lab, sd, s0, s1, limit, NULL, 0, err, 1);
}

/* One row without labels. *heap_left receives what scratch_reset must clear. */
static int
run_row(const graph_t *g, scratch_t *s, int64_t *pred, const seeds_t *sd,
        int64_t s0, int64_t s1, double limit, const uint8_t *is_target, int64_t n_targets,
        kerr_t *err, int64_t *heap_left)
{
    int64_t left = g->idx64
                       ? run_plain64(g, s, pred, sd, s0, s1, limit, is_target, n_targets, err)
                       : run_plain32(g, s, pred, sd, s0, s1, limit, is_target, n_targets, err);
    *heap_left = left < 0 ? 0 : left;
    return left < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* to_targets                                                                */
/* ------------------------------------------------------------------------ */

static PyObject *
k_to_targets(PyObject *self, PyObject *args)
{
    static const char *F = "to_targets";
    PyObject *o_indptr, *o_indices, *o_weights, *o_ptr, *o_node, *o_off, *o_target, *o_out;
    double limit;
    if (!PyArg_ParseTuple(args, "OOOOOOOdO:to_targets", &o_indptr, &o_indices, &o_weights, &o_ptr,
                          &o_node, &o_off, &o_target, &limit, &o_out))
        return NULL;
    if (isnan(limit)) return PyErr_Format(PyExc_ValueError, "%s(): limit is NaN", F);

    bufset_t set = {0};
    graph_t g;
    seeds_t sd;
    const int64_t *sp = NULL;
    int64_t rows = 0;
    PyObject *result = NULL;
    if (get_graph(&set, F, o_indptr, o_indices, o_weights, &g) < 0) goto done;
    if (get_seeds(&set, F, o_ptr, o_node, o_off, &sp, &rows, &sd) < 0) goto done;
    buf_t *bt = get_buf(&set, o_target, F, "target_node", K_I64, 0);
    if (!bt) goto done;
    buf_t *bo = get_buf(&set, o_out, F, "out", K_F64, 1);
    if (!bo) goto done;
    const int64_t nt = bt->len;
    if (bo->len != rows * nt) {
        PyErr_Format(PyExc_ValueError, "%s(): out has %zd entries, expected rows * targets = %lld",
                     F, bo->len, (long long)(rows * nt));
        goto done;
    }
    const int64_t *target = (const int64_t *)bt->view.buf;
    for (int64_t j = 0; j < nt; j++) {
        if (target[j] < 0 || target[j] >= g.n) {
            PyErr_Format(PyExc_ValueError,
                         "%s(): target_node[%lld] = %lld is not a node id (0 <= id < n)", F,
                         (long long)j, (long long)target[j]);
            goto done;
        }
    }
    double *out = (double *)bo->view.buf;
    kerr_t err = {E_OK, 0, 0, 0.0};

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    uint8_t *is_target = NULL;
    if (rows > 0 && nt > 0) {
        size_t k = (size_t)(g.n > 0 ? g.n : 1);
        is_target = (uint8_t *)calloc(k, 1);
        if (!is_target || scratch_alloc(&s, g.n, 0) < 0) {
            err.code = E_NOMEM;
        } else {
            int64_t distinct = 0;
            for (int64_t j = 0; j < nt; j++) {
                if (!is_target[target[j]]) {
                    is_target[target[j]] = 1;
                    distinct++;
                }
            }
            for (int64_t r = 0; r < rows && err.code == E_OK; r++) {
                int64_t left = 0;
                if (run_row(&g, &s, NULL, &sd, sp[r], sp[r + 1], limit, is_target, distinct, &err,
                            &left) == 0) {
                    double *row = out + r * nt;
                    for (int64_t j = 0; j < nt; j++) {
                        const int64_t v = target[j];
                        row[j] = s.state[v] == SETTLED ? s.dist[v] : INFINITY;
                    }
                }
                scratch_reset(&s, left);
            }
            scratch_free(&s);
        }
    }
    free(is_target);
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
/* tree                                                                      */
/* ------------------------------------------------------------------------ */

static PyObject *
k_tree(PyObject *self, PyObject *args)
{
    static const char *F = "tree";
    PyObject *o_indptr, *o_indices, *o_weights, *o_ptr, *o_node, *o_off, *o_dist, *o_pred;
    double limit;
    if (!PyArg_ParseTuple(args, "OOOOOOdOO:tree", &o_indptr, &o_indices, &o_weights, &o_ptr,
                          &o_node, &o_off, &limit, &o_dist, &o_pred))
        return NULL;
    if (isnan(limit)) return PyErr_Format(PyExc_ValueError, "%s(): limit is NaN", F);

    bufset_t set = {0};
    graph_t g;
    seeds_t sd;
    const int64_t *sp = NULL;
    int64_t rows = 0;
    PyObject *result = NULL;
    if (get_graph(&set, F, o_indptr, o_indices, o_weights, &g) < 0) goto done;
    if (get_seeds(&set, F, o_ptr, o_node, o_off, &sp, &rows, &sd) < 0) goto done;
    buf_t *bd = get_buf(&set, o_dist, F, "out_dist", K_F64, 1);
    if (!bd) goto done;
    buf_t *bp = get_buf(&set, o_pred, F, "out_pred", K_I64, 1);
    if (!bp) goto done;
    if (bd->len != rows * g.n || bp->len != rows * g.n) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): out_dist and out_pred must have rows * n = %lld entries, "
                     "got %zd and %zd",
                     F, (long long)(rows * g.n), bd->len, bp->len);
        goto done;
    }
    double *out_dist = (double *)bd->view.buf;
    int64_t *out_pred = (int64_t *)bp->view.buf;
    kerr_t err = {E_OK, 0, 0, 0.0};

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    if (rows > 0) {
        if (scratch_alloc(&s, g.n, 0) < 0) {
            err.code = E_NOMEM;
        } else {
            for (int64_t r = 0; r < rows && err.code == E_OK; r++) {
                double *dist = out_dist + r * g.n;
                int64_t *pred = out_pred + r * g.n;
                int64_t left = 0;
                run_row(&g, &s, pred, &sd, sp[r], sp[r + 1], limit, NULL, 0, &err, &left);
                for (int64_t v = 0; v < g.n; v++) {
                    if (s.state[v] == SETTLED) {
                        dist[v] = s.dist[v];
                    } else { /* pred was never written, or is stale */
                        dist[v] = INFINITY;
                        pred[v] = -1;
                    }
                }
                scratch_reset(&s, left);
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
/* multi_source                                                              */
/* ------------------------------------------------------------------------ */

static PyObject *
k_multi_source(PyObject *self, PyObject *args)
{
    static const char *F = "multi_source";
    PyObject *o_indptr, *o_indices, *o_weights, *o_node, *o_off, *o_label, *o_dist, *o_lab;
    double limit;
    if (!PyArg_ParseTuple(args, "OOOOOOdOO:multi_source", &o_indptr, &o_indices, &o_weights,
                          &o_node, &o_off, &o_label, &limit, &o_dist, &o_lab))
        return NULL;
    if (isnan(limit)) return PyErr_Format(PyExc_ValueError, "%s(): limit is NaN", F);

    bufset_t set = {0};
    graph_t g;
    seeds_t sd;
    PyObject *result = NULL;
    if (get_graph(&set, F, o_indptr, o_indices, o_weights, &g) < 0) goto done;
    if (get_seeds(&set, F, NULL, o_node, o_off, NULL, NULL, &sd) < 0) goto done;
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
    if (bd->len != g.n || bo->len != g.n) {
        PyErr_Format(PyExc_ValueError,
                     "%s(): out_dist and out_label must have n = %lld entries, got %zd and %zd", F,
                     (long long)g.n, bd->len, bo->len);
        goto done;
    }
    sd.label = (const int64_t *)bl->view.buf;
    double *dist = (double *)bd->view.buf;
    int64_t *lab = (int64_t *)bo->view.buf;
    kerr_t err = {E_OK, 0, 0, 0.0};

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    if (scratch_alloc(&s, g.n, 0) < 0) {
        err.code = E_NOMEM;
    } else {
        if (g.idx64)
            run_label64(&g, &s, lab, &sd, 0, sd.count, limit, &err);
        else
            run_label32(&g, &s, lab, &sd, 0, sd.count, limit, &err);
        for (int64_t v = 0; v < g.n; v++) {
            if (s.state[v] == SETTLED) {
                dist[v] = s.dist[v];
            } else {
                dist[v] = INFINITY;
                lab[v] = -1;
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
/* reached                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    int64_t node;
    double dist;
} pair_t;

static int
cmp_node(const void *a, const void *b)
{
    int64_t x = ((const pair_t *)a)->node, y = ((const pair_t *)b)->node;
    return (x > y) - (x < y);
}

/* Sort runs of equal dist by node id (the settle order is already by dist). */
static void
sort_ties(pair_t *p, int64_t len)
{
    int64_t i = 0;
    while (i < len) {
        int64_t j = i + 1;
        while (j < len && p[j].dist == p[i].dist) j++;
        int64_t run = j - i;
        if (run > 16) {
            qsort(p + i, (size_t)run, sizeof(pair_t), cmp_node);
        } else if (run > 1) {
            for (int64_t a = i + 1; a < j; a++) {
                pair_t x = p[a];
                int64_t b = a - 1;
                while (b >= i && p[b].node > x.node) {
                    p[b + 1] = p[b];
                    b--;
                }
                p[b + 1] = x;
            }
        }
        i = j;
    }
}

static PyObject *
k_reached(PyObject *self, PyObject *args)
{
    static const char *F = "reached";
    PyObject *o_indptr, *o_indices, *o_weights, *o_ptr, *o_node, *o_off, *o_count;
    double limit;
    if (!PyArg_ParseTuple(args, "OOOOOOdO:reached", &o_indptr, &o_indices, &o_weights, &o_ptr,
                          &o_node, &o_off, &limit, &o_count))
        return NULL;
    if (!isfinite(limit)) return PyErr_Format(PyExc_ValueError, "%s(): limit must be finite", F);

    bufset_t set = {0};
    graph_t g;
    seeds_t sd;
    const int64_t *sp = NULL;
    int64_t rows = 0;
    PyObject *result = NULL;
    if (get_graph(&set, F, o_indptr, o_indices, o_weights, &g) < 0) goto done;
    if (get_seeds(&set, F, o_ptr, o_node, o_off, &sp, &rows, &sd) < 0) goto done;
    buf_t *bc = get_buf(&set, o_count, F, "out_count", K_I64, 1);
    if (!bc) goto done;
    if (bc->len != rows) {
        PyErr_Format(PyExc_ValueError, "%s(): out_count has %zd entries, expected rows = %lld", F,
                     bc->len, (long long)rows);
        goto done;
    }
    int64_t *count = (int64_t *)bc->view.buf;
    kerr_t err = {E_OK, 0, 0, 0.0};
    pair_t *acc = NULL;
    int64_t used = 0;

    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    int64_t cap = 0;
    if (rows > 0) {
        if (scratch_alloc(&s, g.n, 1) < 0) {
            err.code = E_NOMEM;
        } else {
            for (int64_t r = 0; r < rows && err.code == E_OK; r++) {
                int64_t left = 0;
                if (run_row(&g, &s, NULL, &sd, sp[r], sp[r + 1], limit, NULL, 0, &err, &left) ==
                    0) {
                    int64_t len = s.nsettled;
                    if (used + len > cap) {
                        int64_t want = cap > 0 ? cap : 1024;
                        while (want < used + len) want *= 2;
                        pair_t *grown = (pair_t *)realloc(acc, (size_t)want * sizeof(pair_t));
                        if (!grown) {
                            err.code = E_NOMEM;
                            break;
                        }
                        acc = grown;
                        cap = want;
                    }
                    pair_t *p = acc + used;
                    for (int64_t i = 0; i < len; i++) {
                        p[i].node = s.settled[i];
                        p[i].dist = s.dist[s.settled[i]];
                    }
                    sort_ties(p, len);
                    used += len;
                    count[r] = len;
                }
                scratch_reset(&s, left);
            }
            scratch_free(&s);
        }
    }
    Py_END_ALLOW_THREADS

    if (err.code != E_OK) {
        free(acc);
        raise_kerr(F, &err);
        goto done;
    }
    {
        PyObject *nodes = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(used * 8));
        PyObject *dists = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(used * 8));
        if (nodes && dists) {
            int64_t *pn = (int64_t *)PyByteArray_AS_STRING(nodes);
            double *pd = (double *)PyByteArray_AS_STRING(dists);
            for (int64_t i = 0; i < used; i++) {
                pn[i] = acc[i].node;
                pd[i] = acc[i].dist;
            }
            result = PyTuple_Pack(2, nodes, dists);
        }
        Py_XDECREF(nodes);
        Py_XDECREF(dists);
    }
    free(acc);
done:
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Best time per cell (isochrones)                                           */
/* ------------------------------------------------------------------------ */

/* For the states a search reached (state, seconds) and the cells' portals grouped
 * by state (portals of state s: state_start[s]..state_start[s+1], each a cell and an
 * offset), plus direct trips (cell, seconds): the best time of each cell, kept when
 * <= limit. scratch (float64[n_cells], all +inf) holds the best times and is reset
 * to +inf before returning; the result lists cells by increasing index. */
static PyObject *
k_cell_best(PyObject *self, PyObject *args)
{
    static const char *F = "cell_best";
    PyObject *o_start, *o_poff, *o_pcell, *o_state, *o_sec, *o_dcell, *o_dsec, *o_scratch;
    double limit;
    if (!PyArg_ParseTuple(args, "OOOOOOOdO:cell_best", &o_start, &o_poff, &o_pcell, &o_state,
                          &o_sec, &o_dcell, &o_dsec, &limit, &o_scratch))
        return NULL;
    bufset_t set = {0};
    PyObject *result = NULL;
    int64_t *cells_out = NULL;
    double *times_out = NULL;
    buf_t *b_start = get_buf(&set, o_start, F, "state_start", K_I64, 0);
    buf_t *b_poff = b_start ? get_buf(&set, o_poff, F, "portal_offset", K_F64, 0) : NULL;
    buf_t *b_pcell = b_poff ? get_buf(&set, o_pcell, F, "portal_cell", K_I64, 0) : NULL;
    buf_t *b_state = b_pcell ? get_buf(&set, o_state, F, "states", K_I64, 0) : NULL;
    buf_t *b_sec = b_state ? get_buf(&set, o_sec, F, "seconds", K_F64, 0) : NULL;
    buf_t *b_dcell = b_sec ? get_buf(&set, o_dcell, F, "direct_cell", K_I64, 0) : NULL;
    buf_t *b_dsec = b_dcell ? get_buf(&set, o_dsec, F, "direct_seconds", K_F64, 0) : NULL;
    buf_t *b_scr = b_dsec ? get_buf(&set, o_scratch, F, "scratch", K_F64, 1) : NULL;
    if (!b_scr) goto done;
    if (b_start->len < 1 || b_poff->len != b_pcell->len || b_state->len != b_sec->len ||
        b_dcell->len != b_dsec->len) {
        PyErr_Format(PyExc_ValueError, "%s() : longueurs de tableaux incompatibles", F);
        goto done;
    }
    const int64_t *start = (const int64_t *)b_start->view.buf;
    const double *poff = (const double *)b_poff->view.buf;
    const int64_t *pcell = (const int64_t *)b_pcell->view.buf;
    const int64_t *state = (const int64_t *)b_state->view.buf;
    const double *sec = (const double *)b_sec->view.buf;
    const int64_t *dcell = (const int64_t *)b_dcell->view.buf;
    const double *dsec = (const double *)b_dsec->view.buf;
    double *scratch = (double *)b_scr->view.buf;
    const int64_t n_states = b_start->len - 1, n_portals = b_poff->len, n_cells = b_scr->len;
    int64_t lo = n_cells, hi = -1, bad = -1, used = 0;
    const char *what = NULL;

    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < b_state->len && !what; i++) {
        int64_t s = state[i];
        if (s < 0 || s >= n_states) { what = "states"; bad = i; break; }
        int64_t a = start[s], b = start[s + 1];
        if (a < 0 || b < a || b > n_portals) { what = "state_start"; bad = s; break; }
        for (int64_t k = a; k < b; k++) {
            int64_t c = pcell[k];
            if (c < 0 || c >= n_cells) { what = "portal_cell"; bad = k; break; }
            double t = poff[k] + sec[i];
            if (t < scratch[c]) {
                scratch[c] = t;
                if (c < lo) lo = c;
                if (c > hi) hi = c;
            }
        }
    }
    for (int64_t i = 0; i < b_dcell->len && !what; i++) {
        int64_t c = dcell[i];
        if (c < 0 || c >= n_cells) { what = "direct_cell"; bad = i; break; }
        if (dsec[i] < scratch[c]) {
            scratch[c] = dsec[i];
            if (c < lo) lo = c;
            if (c > hi) hi = c;
        }
    }
    if (!what && hi >= lo) {
        int64_t cap = hi - lo + 1;
        cells_out = (int64_t *)malloc((size_t)cap * sizeof(int64_t));
        times_out = (double *)malloc((size_t)cap * sizeof(double));
        if (!cells_out || !times_out) what = "memory";
    }
    for (int64_t c = lo; c <= hi; c++) {  /* also resets after an error */
        double t = scratch[c];
        if (t != INFINITY) {
            if (!what && t <= limit) {
                cells_out[used] = c;
                times_out[used] = t;
                used++;
            }
            scratch[c] = INFINITY;
        }
    }
    Py_END_ALLOW_THREADS

    if (what) {
        if (what[0] == 'm') PyErr_NoMemory();
        else PyErr_Format(PyExc_ValueError, "%s() : %s[%lld] hors limites", F, what,
                          (long long)bad);
        goto done;
    }
    {
        PyObject *cells = PyByteArray_FromStringAndSize((const char *)cells_out,
                                                        (Py_ssize_t)(used * 8));
        PyObject *times = PyByteArray_FromStringAndSize((const char *)times_out,
                                                        (Py_ssize_t)(used * 8));
        if (cells && times) result = PyTuple_Pack(2, cells, times);
        Py_XDECREF(cells);
        Py_XDECREF(times);
    }
done:
    free(cells_out);
    free(times_out);
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Outlines of grid cells (isochrone polygons)                               */
/* ------------------------------------------------------------------------ */

typedef struct {
    int64_t *p;
    int64_t len, cap;
} i64vec_t;

static int
vec_push(i64vec_t *v, int64_t x)
{
    if (v->len == v->cap) {
        int64_t want = v->cap ? 2 * v->cap : 1024;
        int64_t *grown = (int64_t *)realloc(v->p, (size_t)want * sizeof(int64_t));
        if (!grown) return -1;
        v->p = grown;
        v->cap = want;
    }
    v->p[v->len++] = x;
    return 0;
}

static PyObject *
vec_bytes(const i64vec_t *v)
{
    return PyByteArray_FromStringAndSize((const char *)v->p, (Py_ssize_t)(v->len * 8));
}

/* The rings of the outline of the true cells of `grid` (height x width, row-major,
 * an empty cell of margin all round), traced as isochrones._trace_layers does with
 * numpy: boundary sides directed with their cell on the left (a top side goes west,
 * a left side south, a bottom side east, a right side north), sides numbered top
 * sides first (cells in row-major order), then left, bottom and right sides; each
 * ring is walked from its smallest side, rings by increasing smallest side. The
 * next side leaves a vertex in the direction next_dir[4 * incoming + code] gives,
 * code = NW + 2 NE + 4 SW + 8 SE of the cells around it. Each corner becomes the
 * two points half a cell before and after it (half-cell units, row then column);
 * points equal to the next one, then points on the segment of their neighbours, are
 * dropped. Returns (points int64 [2 * n] as row, column pairs, ring_start int64
 * [rings + 1], ring_cell int64 [rings]: the cell left of the ring's first side,
 * ring_area int64 [rings]: twice the signed area, > 0 for holes, ring_part int64
 * [rings]: the 4-connected part of ring_cell, numbered from 1 by first cell in
 * row-major order). */
static int32_t
find_root(int32_t *parent, int32_t a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]]; /* path halving */
        a = parent[a];
    }
    return a;
}

/* Label the 4-connected parts of the true cells of g (n cells, rows of w) by order of
 * their first cell in row-major order, from 1 (union-find, then one relabelling pass).
 * label (int32[n]) receives 0 for false cells. Returns -1 when out of memory. */
static int
label_parts(const uint8_t *g, int64_t n, int64_t w, int32_t *label)
{
    int32_t *parent = (int32_t *)malloc((size_t)(n / 2 + 2) * sizeof(int32_t));
    int32_t *final = NULL;
    if (!parent) return -1;
    int32_t count = 0;
    for (int64_t c = 0; c < n; c++) {
        label[c] = 0;
        if (!g[c]) continue;
        int32_t up = c >= w ? label[c - w] : 0, left = c % w ? label[c - 1] : 0;
        if (!up && !left) {
            count++;
            parent[count] = count;
            label[c] = count;
            continue;
        }
        int32_t a = up ? up : left, b = left ? left : up;
        a = find_root(parent, a);
        b = find_root(parent, b);
        if (a != b) {
            if (a < b) parent[b] = a;
            else parent[a] = b;
        }
        label[c] = a < b ? a : b;
    }
    final = (int32_t *)calloc((size_t)count + 1, sizeof(int32_t));
    if (!final) {
        free(parent);
        return -1;
    }
    int32_t next = 0;
    for (int64_t c = 0; c < n; c++) {
        if (!label[c]) continue;
        int32_t r = label[c];
        r = find_root(parent, r);
        if (!final[r]) final[r] = ++next;
        label[c] = final[r];
    }
    free(parent);
    free(final);
    return 0;
}

static PyObject *
k_trace_rings(PyObject *self, PyObject *args)
{
    static const char *F = "trace_rings";
    static const int64_t SR[4] = {0, 1, 0, -1}, SC[4] = {1, 0, -1, 0};
    PyObject *o_grid, *o_next;
    Py_ssize_t height, width;
    if (!PyArg_ParseTuple(args, "OnnO:trace_rings", &o_grid, &height, &width, &o_next))
        return NULL;
    bufset_t set = {0};
    PyObject *result = NULL;
    i64vec_t pts = {0}, starts = {0}, cells = {0}, areas = {0}, parts = {0};
    int64_t *ring = NULL;
    uint8_t *seen = NULL;
    int32_t *label = NULL;
    buf_t *bg = get_buf(&set, o_grid, F, "grid", K_U8, 0);
    buf_t *bn = bg ? get_buf(&set, o_next, F, "next_dir", K_I64, 0) : NULL;
    if (!bn) goto done;
    if (height < 3 || width < 3 || bg->len != (Py_ssize_t)height * width || bn->len != 64) {
        PyErr_Format(PyExc_ValueError, "%s() : la grille doit avoir height x width >= 3 x 3 "
                     "cellules et next_dir 64 valeurs", F);
        goto done;
    }
    const uint8_t *g = (const uint8_t *)bg->view.buf;
    const int64_t *next_dir = (const int64_t *)bn->view.buf;
    const int64_t H = height, W = width, VC = width + 1;
    int failed = 0; /* 1: memory, 2: margin not empty, 3: broken ring */
    for (int64_t j = 0; j < W && !failed; j++)
        if (g[j] || g[(H - 1) * W + j]) failed = 2;
    for (int64_t i = 0; i < H && !failed; i++)
        if (g[i * W] || g[i * W + W - 1]) failed = 2;

    Py_BEGIN_ALLOW_THREADS
    int64_t ring_cap = 0;
    if (!failed) {
        seen = (uint8_t *)calloc((size_t)(VC * (H + 1) * 4), 1);
        if (!seen || vec_push(&starts, 0) < 0) failed = 1;
    }
    for (int group = 0; group < 4 && !failed; group++) {
        /* top: other cell above, start at the top-right vertex going west; left: other
         * cell to the left, top-left vertex going south; bottom: below, bottom-left
         * going east; right: to the right, bottom-right going north */
        const int64_t other[4] = {-W, -1, W, 1};
        const int64_t start_at[4] = {1, 0, VC, VC + 1};
        const int64_t dir_of[4] = {2, 1, 0, 3};
        for (int64_t c = W; c < (H - 1) * W && !failed; c++) {
            if (!g[c] || g[c + other[group]]) continue;
            int64_t v0 = (c / W) * VC + (c % W) + start_at[group], d0 = dir_of[group];
            if (seen[v0 * 4 + d0]) continue;
            /* walk the ring: corners as cut points */
            int64_t n = 0, v = v0, d = d0;
            do {
                seen[v * 4 + d] = 1;
                int64_t e = v + SR[d] * VC + SC[d];
                int64_t vi = e / VC, vj = e % VC;
                int code = (g[(vi - 1) * W + vj - 1] != 0) + 2 * (g[(vi - 1) * W + vj] != 0) +
                           4 * (g[vi * W + vj - 1] != 0) + 8 * (g[vi * W + vj] != 0);
                int64_t nd = next_dir[d * 16 + code];
                if (nd < 0 || nd > 3) { failed = 3; break; }
                if (nd != d) {
                    if (n + 4 > ring_cap) {
                        int64_t want = ring_cap ? 2 * ring_cap : 1024;
                        int64_t *grown = (int64_t *)realloc(ring, (size_t)want * 8);
                        if (!grown) { failed = 1; break; }
                        ring = grown;
                        ring_cap = want;
                    }
                    ring[n++] = 2 * vi - SR[d];
                    ring[n++] = 2 * vj - SC[d];
                    ring[n++] = 2 * vi + SR[nd];
                    ring[n++] = 2 * vj + SC[nd];
                }
                v = e;
                d = nd;
            } while (!(v == v0 && d == d0) && n < 8 * VC * (H + 1));
            if (failed) break;
            if (!(v == v0 && d == d0)) { failed = 3; break; }
            int64_t m = n / 2, k = 0;
            /* drop points equal to the next one (cyclic), in place */
            for (int64_t i = 0; i < m; i++) {
                int64_t f = (i + 1) % m;
                if (ring[2 * i] != ring[2 * f] || ring[2 * i + 1] != ring[2 * f + 1]) {
                    ring[2 * k] = ring[2 * i];
                    ring[2 * k + 1] = ring[2 * i + 1];
                    k++;
                }
            }
            m = k;
            /* then those on the segment of their two neighbours (decided before dropping) */
            int64_t kept = 0, twice_area = 0, first = pts.len;
            for (int64_t i = 0; i < m; i++) {
                int64_t p = (i + m - 1) % m, f = (i + 1) % m;
                int64_t ai = ring[2 * i], aj = ring[2 * i + 1];
                int64_t cross = (ai - ring[2 * p]) * (ring[2 * f + 1] - aj) -
                                (aj - ring[2 * p + 1]) * (ring[2 * f] - ai);
                if (cross != 0) {
                    if (vec_push(&pts, ai) < 0 || vec_push(&pts, aj) < 0) { failed = 1; break; }
                    kept++;
                }
            }
            if (failed) break;
            for (int64_t i = 0; i < kept; i++) {
                int64_t f = (i + 1) % kept;
                int64_t ai = pts.p[first + 2 * i], aj = pts.p[first + 2 * i + 1];
                int64_t bi = pts.p[first + 2 * f], bj = pts.p[first + 2 * f + 1];
                twice_area += aj * bi - bj * ai;
            }
            if (vec_push(&starts, pts.len / 2) < 0 || vec_push(&cells, c) < 0 ||
                vec_push(&areas, twice_area) < 0)
                failed = 1;
        }
    }
    if (!failed) {
        label = (int32_t *)malloc((size_t)(H * W) * sizeof(int32_t));
        if (!label || label_parts(g, H * W, W, label) < 0) failed = 1;
        for (int64_t r = 0; r < cells.len && !failed; r++)
            if (vec_push(&parts, label[cells.p[r]]) < 0) failed = 1;
    }
    Py_END_ALLOW_THREADS

    if (failed == 1) {
        PyErr_NoMemory();
        goto done;
    }
    if (failed) {
        /* the French text as an argument: a format string must be ASCII */
        PyErr_Format(PyExc_ValueError, "%s() : %s", F,
                     failed == 2 ? "la marge de la grille (premières et dernières lignes et "
                                   "colonnes) doit être vide"
                                 : "next_dir sort du contour");
        goto done;
    }
    {
        PyObject *a = vec_bytes(&pts), *b = vec_bytes(&starts), *c = vec_bytes(&cells),
                 *d = vec_bytes(&areas), *e = vec_bytes(&parts);
        if (a && b && c && d && e) result = PyTuple_Pack(5, a, b, c, d, e);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        Py_XDECREF(d);
        Py_XDECREF(e);
    }
done:
    free(parts.p);
    free(label);
    free(pts.p);
    free(starts.p);
    free(cells.p);
    free(areas.p);
    free(ring);
    free(seen);
    bufset_release(&set);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Module                                                                    */
/* ------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"to_targets", k_to_targets, METH_VARARGS,
     "to_targets(indptr, indices, weights, seed_ptr, seed_node, seed_offset, target_node, limit, "
     "out)\n\nFill out (rows * targets float64) with the distance from each row's seeds to each "
     "target (inf when unreached or beyond limit)."},
    {"tree", k_tree, METH_VARARGS,
     "tree(indptr, indices, weights, seed_ptr, seed_node, seed_offset, limit, out_dist, "
     "out_pred)\n\nFill out_dist (rows * n float64) and out_pred (rows * n int64)."},
    {"multi_source", k_multi_source, METH_VARARGS,
     "multi_source(indptr, indices, weights, seed_node, seed_offset, seed_label, limit, out_dist, "
     "out_label)\n\nOne search from all seeds; keys (dist, label), smallest label wins ties."},
    {"reached", k_reached, METH_VARARGS,
     "reached(indptr, indices, weights, seed_ptr, seed_node, seed_offset, limit, out_count) -> "
     "(bytearray int64 nodes, bytearray float64 dists)\n\nNodes settled within limit, row-major, "
     "by increasing dist then node id; out_count[r] receives row r's count."},
    {"cell_best", k_cell_best, METH_VARARGS,
     "cell_best(state_start, portal_offset, portal_cell, states, seconds, direct_cell, "
     "direct_seconds, limit, scratch) -> (bytearray int64 cells, bytearray float64 seconds)\n\n"
     "Best time per cell over its portals of the reached states and the direct trips, kept "
     "when <= limit, by increasing cell; scratch (all +inf) is left all +inf."},
    {"trace_rings", k_trace_rings, METH_VARARGS,
     "trace_rings(grid, height, width, next_dir) -> (bytearray int64 points, ring_start, "
     "ring_cell, ring_area, ring_part)\n\nThe rings of the outline of a boolean grid's true cells, "
     "corners cut at half a cell (half-cell units); see coverage.routing.isochrones."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    "coverage.routing._kernels",
    "Exact Dijkstra kernels on CSR graphs (GIL released); use coverage.routing.kernels.",
    -1,
    methods,
    NULL, /* m_slots */
    NULL, /* m_traverse */
    NULL, /* m_clear */
    NULL, /* m_free */
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "KERNEL_API", KERNEL_API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
