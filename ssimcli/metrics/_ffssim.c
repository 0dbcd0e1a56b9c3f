/* FFmpeg's vf_ssim and vf_psnr sums, in portable C (ssimcli.metrics.ffmpeg uses NumPy without it).
 *
 * row_sums(reference, distorted, out, max_value, drop_last): for each row of 8x8 windows
 * (4x4 blocks, windows of 2x2 adjacent blocks), the sum of the windows' SSIM terms, written to
 * out[0 .. (h>>2)-2] (float64). The arithmetic is vf_ssim.c's: 8-bit planes with C int sums and
 * terms, the window value in single precision, the row summed in double (ssim_endn_8bit);
 * 9-16-bit planes with int64 sums and terms and the row summed in *float* (ssim_endn_16bit).
 * drop_last leaves each row's last window out (the x86 build's remainder handling, see
 * ffmpeg.py). sse(reference, distorted): vf_psnr's exact sum of squared differences.
 *
 * Plain C99, no intrinsics: the per-column loops are written so that compilers vectorise them.
 * Compile without -ffast-math and without FP contraction (the float terms must round as in C).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    int height, width;
    Py_ssize_t stride; /* in samples */
    int itemsize;
} Plane;

static int get_plane(PyObject *obj, Plane *p, const char *name)
{
    if (PyObject_GetBuffer(obj, &p->view, PyBUF_STRIDES | PyBUF_FORMAT) < 0)
        return -1;
    if (p->view.ndim != 2 || (p->view.itemsize != 1 && p->view.itemsize != 2) ||
        p->view.strides[1] != p->view.itemsize || p->view.strides[0] % p->view.itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: a 2-D uint8 or uint16 array with contiguous rows", name);
        PyBuffer_Release(&p->view);
        return -1;
    }
    p->height = (int)p->view.shape[0];
    p->width = (int)p->view.shape[1];
    p->itemsize = (int)p->view.itemsize;
    p->stride = p->view.strides[0] / p->view.itemsize;
    return 0;
}

/* Both planes of a pair, or neither (an error set). */
static int get_pair(PyObject *reference, PyObject *distorted, Plane *a, Plane *b)
{
    if (get_plane(reference, a, "reference") < 0)
        return -1;
    if (get_plane(distorted, b, "distorted") < 0) {
        PyBuffer_Release(&a->view);
        return -1;
    }
    return 0;
}

/* ---- 8-bit ---------------------------------------------------------------------------- */

/* Block sums of one row of 4x4 blocks: s1, s2, ss (a*a + b*b), s12, each bw long. */
static void blocks8(const uint8_t *a, Py_ssize_t sa, const uint8_t *b, Py_ssize_t sb, int bw,
                    int32_t *col, int32_t *out)
{
    const int w = bw * 4;
    int32_t *c1 = col, *c2 = col + w, *css = col + 2 * w, *c12 = col + 3 * w;
    for (int x = 0; x < w; x++) {
        /* 8-bit products fit 16 bits unsigned: 16-bit multiplies, 32-bit sums. */
        uint16_t a0 = a[x], a1 = a[x + sa], a2 = a[x + 2 * sa], a3 = a[x + 3 * sa];
        uint16_t b0 = b[x], b1 = b[x + sb], b2 = b[x + 2 * sb], b3 = b[x + 3 * sb];
        c1[x] = (int32_t)(uint16_t)(a0 + a1 + a2 + a3);
        c2[x] = (int32_t)(uint16_t)(b0 + b1 + b2 + b3);
        css[x] = (int32_t)((uint32_t)(uint16_t)(a0 * a0) + (uint16_t)(a1 * a1) + (uint16_t)(a2 * a2) +
                           (uint16_t)(a3 * a3) + (uint16_t)(b0 * b0) + (uint16_t)(b1 * b1) +
                           (uint16_t)(b2 * b2) + (uint16_t)(b3 * b3));
        c12[x] = (int32_t)((uint32_t)(uint16_t)(a0 * b0) + (uint16_t)(a1 * b1) + (uint16_t)(a2 * b2) +
                           (uint16_t)(a3 * b3));
    }
    for (int k = 0; k < 4; k++) {
        const int32_t *c = col + k * w;
        int32_t *o = out + k * bw;
        for (int z = 0; z < bw; z++)
            o[z] = c[4 * z] + c[4 * z + 1] + c[4 * z + 2] + c[4 * z + 3];
    }
}

/* ssim_end1's per-window SSIM of the window i (two adjacent 4x4 block sums of two rows of
 * blocks, s0 and s1), for all n windows of a row, in the integer type T of the bit depth and
 * float as ffmpeg computes it; c1 and c2 are its constants. */
#define WINDOW_SSIM_ROW(T)                                                                       \
    const T *a1 = s0, *a2 = s0 + bw, *ass = s0 + 2 * bw, *a12 = s0 + 3 * bw;                    \
    const T *b1 = s1, *b2 = s1 + bw, *bss = s1 + 2 * bw, *b12 = s1 + 3 * bw;                    \
    for (int i = 0; i < n; i++) {                                                                \
        T fs1 = a1[i] + a1[i + 1] + b1[i] + b1[i + 1];                                           \
        T fs2 = a2[i] + a2[i + 1] + b2[i] + b2[i + 1];                                           \
        T fss = ass[i] + ass[i + 1] + bss[i] + bss[i + 1];                                       \
        T fs12 = a12[i] + a12[i + 1] + b12[i] + b12[i + 1];                                      \
        T vars = fss * 64 - fs1 * fs1 - fs2 * fs2;                                               \
        T covar = fs12 * 64 - fs1 * fs2;                                                         \
        v[i] = (float)(2 * fs1 * fs2 + c1) * (float)(2 * covar + c2)                             \
             / ((float)(fs1 * fs1 + fs2 * fs2 + c1) * (float)(vars + c2));                       \
    }

static double end_row8(const int32_t *s0, const int32_t *s1, int bw, int n, float *v)
{
    /* ssim_end1 with ssim_c1 = 416, ssim_c2 = 235963 (max 255). */
    const int c1 = 416, c2 = 235963;
    WINDOW_SSIM_ROW(int32_t)
    double row = 0.0;
    for (int i = 0; i < n; i++)
        row += v[i];
    return row;
}

/* ---- 9- to 16-bit --------------------------------------------------------------------- */

/* Block sums of one row of 4x4 blocks at 9-16 bits, accumulated in ACC. Up to 12 bits the 4-row
 * column sums and the block sums fit 32 bits (16 * 2 * 4095^2 < 2^31): 32-bit arithmetic, then
 * widened; above, 64-bit throughout. The integers are the same. */
#define DEFINE_BLOCKS(NAME, ACC)                                                                   \
    static void NAME(const uint16_t *a, Py_ssize_t sa, const uint16_t *b, Py_ssize_t sb, int bw, \
                     int64_t *col, int64_t *out)                                                 \
    {                                                                                            \
        const int w = bw * 4;                                                                    \
        ACC *c = (ACC *)col, *c1 = c, *c2 = c + w, *css = c + 2 * w, *c12 = c + 3 * w;          \
        for (int x = 0; x < w; x++) {                                                            \
            ACC a0 = a[x], a1 = a[x + sa], a2 = a[x + 2 * sa], a3 = a[x + 3 * sa];               \
            ACC b0 = b[x], b1 = b[x + sb], b2 = b[x + 2 * sb], b3 = b[x + 3 * sb];               \
            c1[x] = a0 + a1 + a2 + a3;                                                           \
            c2[x] = b0 + b1 + b2 + b3;                                                           \
            css[x] = a0 * a0 + a1 * a1 + a2 * a2 + a3 * a3 + b0 * b0 + b1 * b1 + b2 * b2 + b3 * b3; \
            c12[x] = a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3;                                      \
        }                                                                                        \
        for (int k = 0; k < 4; k++) {                                                            \
            const ACC *ck = c + k * w;                                                           \
            int64_t *o = out + k * bw;                                                           \
            for (int z = 0; z < bw; z++)                                                         \
                o[z] = (int64_t)(ck[4 * z] + ck[4 * z + 1] + ck[4 * z + 2] + ck[4 * z + 3]);     \
        }                                                                                        \
    }

DEFINE_BLOCKS(blocks12, uint32_t)
DEFINE_BLOCKS(blocks16, int64_t)

static double end_row16(const int64_t *s0, const int64_t *s1, int bw, int n, int64_t c1, int64_t c2,
                        float *v)
{
    WINDOW_SSIM_ROW(int64_t)
    float row = 0.0f; /* ssim_endn_16bit sums in float */
    for (int i = 0; i < n; i++)
        row += v[i];
    return (double)row;
}

static PyObject *row_sums(PyObject *self, PyObject *args)
{
    PyObject *ro, *dobj, *oobj;
    long long maxv;
    int drop_last;
    Plane a, b;
    Py_buffer out;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOLp", &ro, &dobj, &oobj, &maxv, &drop_last))
        return NULL;
    if (get_pair(ro, dobj, &a, &b) < 0)
        return NULL;
    if (PyObject_GetBuffer(oobj, &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&a.view);
        PyBuffer_Release(&b.view);
        return NULL;
    }
    const int bw = a.width >> 2, bh = a.height >> 2;
    const int n = bw - 1 - (drop_last ? 1 : 0);
    int bad = a.width != b.width || a.height != b.height || a.itemsize != b.itemsize || bw < 2 || bh < 2 ||
              n < 0 || out.len != (Py_ssize_t)(bh - 1) * (Py_ssize_t)sizeof(double);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "row_sums: planes of one shape and type, at least 8x8, out of h/4 - 1 doubles");
        goto fail;
    }
    const int wide = a.itemsize == 2;
    const size_t es = wide ? sizeof(int64_t) : sizeof(int32_t);
    char *mem = malloc(es * (size_t)(16 * bw + 8 * bw) + sizeof(float) * (size_t)(bw + 1));
    if (!mem) {
        PyErr_NoMemory();
        goto fail;
    }
    void *col = mem, *s0 = mem + es * 16 * bw, *s1 = mem + es * 20 * bw;
    float *v = (float *)(mem + es * 24 * bw);
    double *o = (double *)out.buf;
    const int64_t c1 = (int64_t)(.01 * .01 * (double)maxv * (double)maxv * 64 + .5);
    const int64_t c2 = (int64_t)(.03 * .03 * (double)maxv * (double)maxv * 64 * 63 + .5);
    Py_BEGIN_ALLOW_THREADS
    for (int y = 0; y < bh; y++) {
        void *t = s0; s0 = s1; s1 = t;
        if (wide && maxv <= 4095) {
            blocks12((const uint16_t *)a.view.buf + (Py_ssize_t)4 * y * a.stride, a.stride,
                     (const uint16_t *)b.view.buf + (Py_ssize_t)4 * y * b.stride, b.stride, bw, col, s0);
            if (y)
                o[y - 1] = end_row16(s0, s1, bw, n, c1, c2, v);
        } else if (wide) {
            blocks16((const uint16_t *)a.view.buf + (Py_ssize_t)4 * y * a.stride, a.stride,
                     (const uint16_t *)b.view.buf + (Py_ssize_t)4 * y * b.stride, b.stride, bw, col, s0);
            if (y)
                o[y - 1] = end_row16(s0, s1, bw, n, c1, c2, v);
        } else {
            blocks8((const uint8_t *)a.view.buf + (Py_ssize_t)4 * y * a.stride, a.stride,
                    (const uint8_t *)b.view.buf + (Py_ssize_t)4 * y * b.stride, b.stride, bw, col, s0);
            if (y)
                o[y - 1] = end_row8(s0, s1, bw, n, v);
        }
    }
    Py_END_ALLOW_THREADS
    free(mem);
    PyBuffer_Release(&out);
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&b.view);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&out);
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&b.view);
    return NULL;
}

static PyObject *sse(PyObject *self, PyObject *args)
{
    PyObject *ro, *dobj;
    Plane a, b;
    unsigned long long total = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &ro, &dobj))
        return NULL;
    if (get_pair(ro, dobj, &a, &b) < 0)
        return NULL;
    if (a.width != b.width || a.height != b.height || a.itemsize != b.itemsize) {
        PyErr_SetString(PyExc_ValueError, "sse: planes of one shape and type");
        PyBuffer_Release(&a.view);
        PyBuffer_Release(&b.view);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (int y = 0; y < a.height; y++) {
        uint64_t row = 0;
        if (a.itemsize == 1) {
            const uint8_t *p = (const uint8_t *)a.view.buf + y * a.stride;
            const uint8_t *q = (const uint8_t *)b.view.buf + y * b.stride;
            uint32_t m = 0;
            for (int x = 0; x < a.width; x++) {
                int d = (int)p[x] - (int)q[x];
                m += (uint32_t)(d * d);
            }
            row = m;
        } else {
            const uint16_t *p = (const uint16_t *)a.view.buf + y * a.stride;
            const uint16_t *q = (const uint16_t *)b.view.buf + y * b.stride;
            for (int x = 0; x < a.width; x++) {
                int64_t d = (int64_t)p[x] - (int64_t)q[x];
                row += (uint64_t)(d * d);
            }
        }
        total += row;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&b.view);
    return PyLong_FromUnsignedLongLong(total);
}

static PyMethodDef methods[] = {
    {"row_sums", row_sums, METH_VARARGS, "vf_ssim's per-row window sums of two planes, into out."},
    {"sse", sse, METH_VARARGS, "vf_psnr's sum of squared differences of two planes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ffssim", NULL, -1, methods};

PyMODINIT_FUNC PyInit__ffssim(void) { return PyModule_Create(&module); }
