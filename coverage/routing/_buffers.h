/* Buffers shared by the C extensions coverage.routing._kernels and _hierarchy.
 *
 * Arrays come in through the buffer protocol (no numpy headers): get_buf() takes a
 * C-contiguous buffer of one of the accepted kinds (int32, int64, float64, bool/uint8) or raises
 * TypeError naming the function and the argument; bufset_release() gives them back.
 * Define BUF_MODULE (the module's name, for messages) before including this file.
 */
#ifndef COVERAGE_ROUTING_BUFFERS_H
#define COVERAGE_ROUTING_BUFFERS_H

#ifndef BUF_MODULE
#error "define BUF_MODULE before including _buffers.h"
#endif

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

enum { K_I32 = 1, K_I64 = 2, K_F64 = 4, K_U8 = 8 };

typedef struct {
    Py_buffer view;
    int held;
    int kind;
    Py_ssize_t len; /* number of elements */
} buf_t;

#ifndef MAX_BUFS
#define MAX_BUFS 16
#endif

typedef struct {
    buf_t b[MAX_BUFS];
    int count;
} bufset_t;

static void
bufset_release(bufset_t *set)
{
    for (int i = 0; i < set->count; i++) {
        if (set->b[i].held) {
            PyBuffer_Release(&set->b[i].view);
            set->b[i].held = 0;
        }
    }
    set->count = 0;
}

static const char *
kind_names(int kinds)
{
    switch (kinds) {
    case K_I32 | K_I64: return "int32 or int64";
    case K_I64: return "int64";
    case K_I32: return "int32";
    case K_F64: return "float64";
    case K_U8: return "bool or uint8";
    default: return "numeric";
    }
}

/* Native-order format of a buffer element: 0 when not one we accept. */
static int
format_kind(const Py_buffer *view)
{
    const char *f = view->format ? view->format : "B";
    static const union { uint16_t u; uint8_t c[2]; } probe = {1};
    int little = probe.c[0] == 1;
    if (*f == '@' || *f == '=') {
        f++;
    } else if (*f == '<') {
        if (!little) return 0;
        f++;
    } else if (*f == '>' || *f == '!') {
        if (little) return 0;
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0') return 0;
    switch (f[0]) {
    case 'i': case 'l': case 'q': case 'n':
        if (view->itemsize == 4) return K_I32;
        if (view->itemsize == 8) return K_I64;
        return 0;
    case 'd':
        return view->itemsize == 8 ? K_F64 : 0;
    case '?': case 'B':
        return view->itemsize == 1 ? K_U8 : 0;
    default:
        return 0;
    }
}

/* Get a C-contiguous buffer of one of `kinds`; raise TypeError naming it otherwise. */
static buf_t *
get_buf(bufset_t *set, PyObject *obj, const char *func, const char *name, int kinds, int writable)
{
    if (set->count >= MAX_BUFS) {
        PyErr_SetString(PyExc_RuntimeError, BUF_MODULE ": too many buffers");
        return NULL;
    }
    buf_t *b = &set->b[set->count];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &b->view, flags) != 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "%s(): %s must be a C-contiguous%s %s array, got %.100s", func, name,
                     writable ? " writable" : "", kind_names(kinds), Py_TYPE(obj)->tp_name);
        return NULL;
    }
    b->held = 1;
    set->count++;
    b->kind = format_kind(&b->view);
    if (!(b->kind & kinds)) {
        PyErr_Format(PyExc_TypeError,
                     "%s(): %s must hold %s, got buffer format '%s' (itemsize %zd)", func, name,
                     kind_names(kinds), b->view.format ? b->view.format : "B", b->view.itemsize);
        return NULL;
    }
    b->len = b->view.len / b->view.itemsize;
    return b;
}


#endif /* COVERAGE_ROUTING_BUFFERS_H */
