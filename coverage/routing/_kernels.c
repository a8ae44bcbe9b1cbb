/*
 * coverage.routing._kernels: exact Dijkstra kernels on CSR graphs, GIL released.
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

#define KERNEL_API 1

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
