/*
 * ssimcli.metrics._native: one fused pass per strip of rows for the fast CPU engine, and PNG
 * row unfiltering for ssimcli.pngread.
 *
 * Why it exists: the OpenCV strip engine (fast.py) makes about thirty passes over each strip
 * (conversion, padding, five product planes, five separable filters, the per-pixel formula,
 * sums), each one streaming whole rows through memory. Here the same arithmetic runs on
 * column tiles small enough to stay in the core's caches: going down a tile, each input row is
 * converted and multiplied out once into a ring of `taps` rows, each output row is filtered
 * down the columns from that ring, then along the row, turned into SSIM / CS / L1 and summed,
 * before the next tile is touched. A symmetric window adds the two samples that share a weight
 * before multiplying. On a 4K RGB pair this takes about a third of the OpenCV engine's CPU
 * time (benchmarks/bench_compare.py; README, Performance).
 *
 * Numbers: float32 throughout, as the OpenCV path; region sums in float64. The moment planes
 * are x'^2 + y'^2, x'y' and |x' - y' + (cx - cy)| of the centred values x' = x / divisor - cx,
 * y' = y / divisor - cy (each image on its own level), exactly as fast._fill_band forms them,
 * and every step is symmetric in x and y, so swapping the images changes no bit and identical
 * images give exactly 1. The strip's largest x'^2 + y'^2 is reported (``peak``): where it is
 * far above L^2, float32 has lost the variances and fast.py scores the strip again in float64. Floating-point contraction is off
 * (setup.py), so x*x + y*y never becomes the asymmetric fma(x, x, y*y); the filters' fused
 * multiply-adds are written out (_native_tile.h), where they keep both properties.
 *
 * Safety: every array arrives through the buffer protocol and its length is checked against
 * what the call will touch, so a wrong argument from Python is an exception, never a stray
 * read or write. The GIL is released while computing: strips run on several threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8
typedef float vf __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(LANES * sizeof(int32_t))));
/* Same vectors, byte-aligned: for loads and stores at any float offset. */
typedef float vf_u __attribute__((vector_size(LANES * sizeof(float)), aligned(4)));

#define INLINE static inline __attribute__((always_inline))
/* Filtering works on blocks of BLOCK vectors: independent sums keep the adders busy. */
#define BLOCK 4
#define STEP (BLOCK * LANES)

/* Pixels per column tile: a tile's converted rows and row buffers stay in L2. */
#ifndef TILE_PIXELS
#define TILE_PIXELS 160
#endif

enum { U8 = 0, U16 = 1, F32 = 2, F64 = 3 };

typedef struct {
    /* The images given hold rows row_base .. row_base + buffer_rows - 1 of the whole ones. */
    int row_base, buffer_rows, width, channels, radius, taps, start, rows, dtype;
    float divisor;
    double divisor64;
    const float *weights;
    float *centre;             /* 2 x channels, x's then y's: computed by find_centre */
    const int64_t *row_src;    /* rows + 2r source rows; -1: zero padding */
    const int64_t *col_src;    /* width + 2r source columns; -1: zero padding */
    const void *x, *y;
    float c1, c2, scale, alpha;
    int clip, need_ssim, want_errors;
    int mean_r0, mean_r1, mean_c0, mean_c1;
    float *map_ssim, *map_cs, *map_l1, *map_mix;  /* rows x width x channels, or NULL */
    /* Heatmap colour indexes (heatmap.quantise) of ssim, cs, l1, ssim_l1: rows x width, or
     * NULL; each on its scale [low, high] (as index_low and 255 / (high - low)). */
    uint8_t *index[4];
    float index_low[4], index_scale[4];
    int any_index;
    double *sums;              /* 3 x channels: ssim, cs, l1 */
    double *errors;            /* channels: sum of (x - y)^2 as given */
} Strip;

INLINE vf load(const float *p) { return *(const vf_u *)p; }
INLINE void store(float *p, vf v) { *(vf_u *)p = v; }
INLINE vf splat(float v) { return (vf){v, v, v, v, v, v, v, v}; }

INLINE vf vabs(vf v) {
    vi bits = (vi)v & 0x7fffffff;
    return (vf)bits;
}

INLINE vf vmin(vf a, vf b) {
    vi lt = a < b;
    return (vf)(((vi)a & lt) | ((vi)b & ~lt));
}

INLINE vf vmax(vf a, vf b) {
    vi gt = a > b;
    return (vf)(((vi)a & gt) | ((vi)b & ~gt));
}

/* One band row of the tile: padded columns p0 - r .. p0 + tp + r - 1, centred. The inner run
 * of real columns is a plain loop over contiguous samples (vectorised per dtype). */
#define CONVERT_RUN(TYPE)                                                                  \
    do {                                                                                   \
        const TYPE *src = (const TYPE *)image + base;                                      \
        for (size_t k = 0; k < count; k++)                                                 \
            dst[k] = (float)src[k] / divisor - pattern[k];                                 \
    } while (0)

/* The level each channel of each image is centred on in the strip (fast._strip_centre), from
 * their means over every 4th row and 8th column of the band's rows (every pixel of a small
 * band): one common level, the mean of both, where the two means lie within sqrt(C2) of each
 * other (then pixels equal in both images have equal centred values, and their rounding
 * cancels in the variance of the difference), else each image's own. Any constant leaves the (co)variances unchanged; the
 * closer the centred values are to 0, the smaller the float32 rounding that E[x'^2] - E[x']^2
 * cancels on flat areas (two flat images at any levels: exactly 0). Symmetric in x and y. */
#define SUM_SAMPLES(TYPE)                                                                  \
    do {                                                                                   \
        const TYPE *a = (const TYPE *)s->x, *b = (const TYPE *)s->y;                       \
        for (int row = lo; row < hi; row += dy) {                                          \
            const size_t base = (size_t)(row - s->row_base) * s->width * C;                \
            for (int col = 0; col < s->width; col += dx)                                   \
                for (int c = 0; c < C; c++) {                                              \
                    sx[c] += (double)a[base + (size_t)col * C + c];                        \
                    sy[c] += (double)b[base + (size_t)col * C + c];                        \
                }                                                                          \
        }                                                                                  \
    } while (0)

#define SMALL_BAND 4096 /* pixels: fast._SMALL_BAND */

static int find_centre(const Strip *s) {
    const int C = s->channels, band = s->rows + 2 * s->radius;
    int lo = -1, hi = -1;
    for (int k = 0; k < band; k++) {
        const int row = (int)s->row_src[k];
        if (row < 0) continue;
        if (lo < 0 || row < lo) lo = row;
        if (row + 1 > hi) hi = row + 1;
    }
    /* Every pixel of a small band (a sparse sample of a few pixels can lie far from their
     * mean), every 4th row and 8th column of a larger one. */
    const int small = lo < 0 || (double)(hi - lo) * s->width <= SMALL_BAND;
    const int dy = small ? 1 : 4, dx = small ? 1 : 8;
    double *sx = calloc(2 * (size_t)C, sizeof(double));
    if (!sx) return 0;
    double *sy = sx + C;
    if (lo >= 0) {
        switch (s->dtype) {
        case U8: SUM_SAMPLES(uint8_t); break;
        case U16: SUM_SAMPLES(uint16_t); break;
        case F32: SUM_SAMPLES(float); break;
        default: SUM_SAMPLES(double); break;
        }
    }
    const double n = lo >= 0 ? (double)((hi - lo + dy - 1) / dy) * (double)((s->width + dx - 1) / dx)
                             : 1.0;
    for (int c = 0; c < C; c++) {
        const double mx = sx[c] / n / s->divisor64, my = sy[c] / n / s->divisor64;
        if ((mx - my) * (mx - my) <= (double)s->c2) {
            s->centre[c] = s->centre[C + c] = (float)(0.5 * (sx[c] / n + sy[c] / n) / s->divisor64);
        } else {
            s->centre[c] = (float)mx;
            s->centre[C + c] = (float)my;
        }
    }
    free(sx);
    return 1;
}

/* Where a tile's padded columns come from: runs of consecutive source columns (col >= 0) or
 * of zero padding (col < 0), found once per tile rather than once per row. */
typedef struct {
    int *q, *col, *len;
    int count;
} Segments;

INLINE void find_segments(const Strip *s, int p0, int tp, Segments *g) {
    const int padded = tp + 2 * s->radius;
    g->count = 0;
    for (int q = 0; q < padded;) {
        const int64_t col = s->col_src[p0 + q];
        int run = 1;
        if (col < 0)
            while (q + run < padded && s->col_src[p0 + q + run] < 0) run++;
        else
            while (q + run < padded && s->col_src[p0 + q + run] == col + run) run++;
        g->q[g->count] = q;
        g->col[g->count] = col < 0 ? -1 : (int)col;
        g->len[g->count] = run;
        g->count++;
        q += run;
    }
}

/* One band row of the tile: its padded columns, centred (x / divisor - level); zero padding
 * is x = 0, i.e. -level. */
INLINE void convert_row(const Strip *s, const void *image, int64_t src_row, const Segments *g,
                        const float *pattern, float *out) {
    const int C = s->channels;
    const float divisor = s->divisor;
    for (int k = 0; k < g->count; k++) {
        float *dst = out + (size_t)g->q[k] * C;
        const size_t count = (size_t)g->len[k] * C;
        if (src_row < 0 || g->col[k] < 0) {
            for (size_t j = 0; j < count; j++) dst[j] = -pattern[j];
            continue;
        }
        const size_t base = ((size_t)(src_row - s->row_base) * s->width + (size_t)g->col[k]) * C;
        switch (s->dtype) {
        case U8: CONVERT_RUN(uint8_t); break;
        case U16: CONVERT_RUN(uint16_t); break;
        case F32: CONVERT_RUN(float); break;
        default: CONVERT_RUN(double); break;
        }
    }
}

INLINE size_t round_up(size_t n, size_t step) { return (n + step - 1) / step * step; }

enum { PLANES = 5 };

typedef struct {
    float *ring;               /* taps slots x PLANES planes x stride floats */
    float *v[PLANES];          /* filtered down the columns, one output row */
    float *h[PLANES];          /* then along the row: the moments of the row */
    float *row[3];             /* ssim, cs and ssim_l1 of the row */
    float *pattern[3];         /* x's and y's level of each sample's channel, and x's - y's */
    float peak;                /* largest x'^2 + y'^2 so far */
    double *acc[3], *err;      /* per-sample sums down the strip */
    Segments segments;
    size_t stride;
} Buffers;

static void free_buffers(Buffers *b) {
    free(b->ring);
    for (int p = 0; p < PLANES; p++) {
        free(b->v[p]);
        free(b->h[p]);
    }
    for (int m = 0; m < 3; m++) free(b->row[m]);
    for (int m = 0; m < 3; m++) free(b->acc[m]);
    for (int m = 0; m < 3; m++) free(b->pattern[m]);
    free(b->err);
    free(b->segments.q);
    free(b->segments.col);
    free(b->segments.len);
}

/* Buffers for one tile, zeroed; the slack lets the vector loops run past the last sample
 * (over finite values) instead of needing scalar tails. */
static int alloc_buffers(const Strip *s, Buffers *b) {
    const int C = s->channels, r = s->radius;
    const size_t tile = (size_t)TILE_PIXELS * C;
    memset(b, 0, sizeof(*b));
    b->stride = round_up((size_t)(TILE_PIXELS + 2 * r) * C, STEP) + STEP;
    b->ring = calloc((size_t)s->taps * PLANES * b->stride, sizeof(float));
    int ok = b->ring != NULL;
    for (int p = 0; p < PLANES; p++) {
        ok = ok && (b->v[p] = calloc(b->stride, sizeof(float)));
        ok = ok && (b->h[p] = calloc(b->stride, sizeof(float)));
    }
    for (int m = 0; m < 3; m++) ok = ok && (b->row[m] = calloc(b->stride, sizeof(float)));
    for (int m = 0; m < 3; m++) ok = ok && (b->acc[m] = calloc(tile, sizeof(double)));
    for (int m = 0; m < 3; m++) ok = ok && (b->pattern[m] = calloc(b->stride, sizeof(float)));
    ok = ok && (b->err = calloc(tile, sizeof(double)));
    const size_t columns = (size_t)TILE_PIXELS + 2 * r + 1;
    ok = ok && (b->segments.q = calloc(columns, sizeof(int)));
    ok = ok && (b->segments.col = calloc(columns, sizeof(int)));
    ok = ok && (b->segments.len = calloc(columns, sizeof(int)));
    if (!ok) {
        free_buffers(b);
        return 0;
    }
    for (size_t k = 0; k < b->stride; k++) {
        b->pattern[0][k] = s->centre[k % C];
        b->pattern[1][k] = s->centre[C + k % C];
        b->pattern[2][k] = b->pattern[0][k] - b->pattern[1][k];
    }
    return 1;
}

INLINE float *plane(const Buffers *b, int slot, int p) {
    return b->ring + ((size_t)slot * PLANES + p) * b->stride;
}

INLINE void add_row(double *acc, const float *row, size_t from, size_t to) {
    for (size_t k = from; k < to; k++) acc[k] += (double)row[k];
}

/* Squared errors from the values as given: exact for integers (PSNR does not pass through
 * the working precision). */
#define ADD_ERRORS(TYPE)                                                                   \
    do {                                                                                   \
        const TYPE *a = (const TYPE *)s->x + base, *b = (const TYPE *)s->y + base;         \
        for (size_t k = 0; k < count; k++) {                                               \
            double d = (double)a[k] - (double)b[k];                                        \
            err[k] += d * d;                                                               \
        }                                                                                  \
    } while (0)

INLINE void add_errors(const Strip *s, double *err, size_t base, size_t count) {
    switch (s->dtype) {
    case U8: ADD_ERRORS(uint8_t); break;
    case U16: ADD_ERRORS(uint16_t); break;
    case F32: ADD_ERRORS(float); break;
    default: ADD_ERRORS(double); break;
    }
}

/* The colour index of `pixels` pixels of `channels` samples each: the operations of
 * heatmap.quantise in the same order (channels added in order, divided by their count, minus
 * low, times 255 / (high - low); NaN -> 0 as np.fmax(acc, 0); at most 255; truncated). A
 * constant channel count lets the compiler vectorise the loop. */
#define QUANTISE(CHANNELS)                                                                 \
    do {                                                                                   \
        for (size_t k = 0; k < n; k++) {                                                   \
            const float *px = in + k * (CHANNELS);                                         \
            float acc;                                                                     \
            if ((CHANNELS) == 1) {                                                         \
                acc = px[0] - lo;                                                          \
            } else {                                                                       \
                acc = px[0] + px[1];                                                       \
                for (size_t j = 2; j < (size_t)(CHANNELS); j++) acc = acc + px[j];         \
                acc = acc / count - lo;                                                    \
            }                                                                              \
            acc = acc * scale;                                                             \
            acc = acc > 0.0f ? acc : 0.0f;                                                 \
            acc = acc < 255.0f ? acc : 255.0f;                                             \
            index[k] = (uint8_t)acc;                                                       \
        }                                                                                  \
    } while (0)

INLINE void quantise_pixels(const float *in, size_t n, size_t c, float lo, float scale,
                            uint8_t *index) {
    const float count = (float)c;
    switch (c) {
    case 1: QUANTISE(1); break;
    case 2: QUANTISE(2); break;
    case 3: QUANTISE(3); break;
    case 4: QUANTISE(4); break;
    default: QUANTISE(c); break;
    }
}

/* The ssim_l1 mix of the row, alpha (1 - ssim) + (1 - alpha) l1, written as fast._strip_maps
 * computes it (cv2.addWeighted's order). */
INLINE void mix_row(const Strip *s, const Buffers *b, size_t count) {
    const float a = -s->alpha, c = 1.0f - s->alpha, g = s->alpha;
    for (size_t k = 0; k < count; k++) b->row[2][k] = (b->row[0][k] * a + b->h[4][k] * c) + g;
}

/* The colour index of each pixel of the row, for the heatmaps asked for. */
INLINE void write_indexes(const Strip *s, const Buffers *b, int i, int p0, int tp) {
    const float *source[4] = {b->row[0], b->row[1], b->h[4], b->row[2]};
    for (int m = 0; m < 4; m++) {
        if (!s->index[m]) continue;
        quantise_pixels(source[m], (size_t)tp, (size_t)s->channels, s->index_low[m],
                        s->index_scale[m], s->index[m] + (size_t)i * s->width + p0);
    }
}

INLINE void write_maps(const Strip *s, const Buffers *b, int i, int p0, size_t count) {
    const size_t offset = ((size_t)i * s->width + p0) * s->channels;
    if (s->map_ssim) memcpy(s->map_ssim + offset, b->row[0], count * sizeof(float));
    if (s->map_cs) memcpy(s->map_cs + offset, b->row[1], count * sizeof(float));
    if (s->map_l1) memcpy(s->map_l1 + offset, b->h[4], count * sizeof(float));
    if (s->map_mix) memcpy(s->map_mix + offset, b->row[2], count * sizeof(float));
}


/* ---- Variants ---------------------------------------------------------------------------- */

#define V(name) name##_baseline
#define TARGET
#define MULADD(a, b, acc) ((acc) + (a) * (b))
#include "_native_tile.h"
#undef V
#undef TARGET
#undef MULADD
#undef HOT_INLINE

/* The AVX2+FMA variant: x86-64, GCC only. Clang (Apple's, clang-cl, Linux's) rejects it: the
 * variant's hot loops call the vector helpers above (load, store, splat, ...), which are compiled
 * for the baseline, and Clang refuses to pass a 256-bit vector across that change of target
 * even into an always_inline function ("AVX vector return ... changes the ABI"), where GCC
 * inlines it. Clang builds therefore run the baseline variant. Elsewhere (AArch64, ...) the
 * baseline is the only variant. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HAVE_V3 1
#include <immintrin.h>
#define V(name) name##_v3
#define TARGET __attribute__((target("avx2,fma")))
#define MULADD(a, b, acc) ((vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(acc)))
#include "_native_tile.h"
#undef V
#undef TARGET
#undef MULADD
#undef HOT_INLINE
#endif

typedef void (*TileFunction)(const Strip *, Buffers *, int);
static TileFunction run_tile = run_tile_baseline;
static const char *variant = "baseline";

/* ---- Python glue ------------------------------------------------------------------------ */

typedef struct {
    Py_buffer views[20];
    int used;
} Views;

static void release_views(Views *v) {
    for (int k = 0; k < v->used; k++) PyBuffer_Release(&v->views[k]);
    v->used = 0;
}

/* A contiguous buffer of at least ``need`` bytes (writable when asked); None gives NULL when
 * ``optional``. Returns 0 with an exception set on failure. */
static int get_buffer(Views *v, PyObject *obj, size_t need, int writable, int optional,
                      const char *name, void **out) {
    *out = NULL;
    if (obj == Py_None && optional) return 1;
    Py_buffer *view = &v->views[v->used];
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return 0;
    v->used++;
    if ((size_t)view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes, need %zu", name, view->len, need);
        return 0;
    }
    *out = view->buf;
    return 1;
}

static const size_t ITEM_BYTES[] = {1, 2, 4, 8};

static PyObject *strip(PyObject *self, PyObject *args) {
    (void)self;
    Strip s;
    memset(&s, 0, sizeof(s));
    PyObject *x, *y, *weights, *centre, *row_src, *col_src, *sums, *errors;
    PyObject *m_ssim, *m_cs, *m_l1, *m_mix, *ix[4], *peak = Py_None;
    double scales[8];
    double divisor, c1, c2, scale, alpha;
    if (!PyArg_ParseTuple(args, "OOiiiiiiiiOOOOdddddpp(iiii)OOOOOOOOOO(dddddddd)|O", &x, &y, &s.dtype,
                          &s.row_base, &s.buffer_rows, &s.width, &s.channels, &s.taps, &s.start, &s.rows, &weights, &centre,
                          &row_src, &col_src, &divisor, &c1, &c2, &scale, &alpha, &s.clip,
                          &s.need_ssim, &s.mean_r0, &s.mean_r1, &s.mean_c0, &s.mean_c1, &sums,
                          &errors, &m_ssim, &m_cs, &m_l1, &m_mix, &ix[0], &ix[1], &ix[2],
                          &ix[3], &scales[0], &scales[1], &scales[2], &scales[3], &scales[4],
                          &scales[5], &scales[6], &scales[7], &peak))
        return NULL;
    if (s.dtype < U8 || s.dtype > F64 || s.buffer_rows < 1 || s.width < 1 || s.channels < 1 ||
        s.taps < 1 || s.taps % 2 == 0 || s.rows < 1 || s.start < s.row_base ||
        s.start + s.rows > s.row_base + s.buffer_rows) {
        PyErr_SetString(PyExc_ValueError, "strip: bad geometry");
        return NULL;
    }
    s.radius = s.taps / 2;
    s.divisor = (float)divisor;
    s.divisor64 = divisor;
    s.c1 = (float)c1;
    s.c2 = (float)c2;
    s.scale = (float)scale;
    s.alpha = (float)alpha;
    s.want_errors = errors != Py_None;
    const size_t C = (size_t)s.channels, W = (size_t)s.width;
    const size_t image = (size_t)s.buffer_rows * W * C * ITEM_BYTES[s.dtype];
    const size_t map = (size_t)s.rows * W * C * sizeof(float);
    Views v = {.used = 0};
    void *p, *centre_out = NULL, *peak_out = NULL;
    Py_ssize_t centre_bytes = 0;
    int ok = get_buffer(&v, x, image, 0, 0, "x", &p) && ((s.x = p), 1) &&
             get_buffer(&v, y, image, 0, 0, "y", &p) && ((s.y = p), 1) &&
             get_buffer(&v, weights, (size_t)s.taps * 4, 0, 0, "weights", &p) &&
             ((s.weights = p), 1) && get_buffer(&v, centre, C * 4, 1, 0, "centre", &centre_out) &&
             ((centre_bytes = v.views[v.used - 1].len), 1) &&
             get_buffer(&v, peak, 8, 1, 1, "peak", &peak_out) &&
             get_buffer(&v, row_src, ((size_t)s.rows + 2 * s.radius) * 8, 0, 0, "row_src", &p) &&
             ((s.row_src = p), 1) &&
             get_buffer(&v, col_src, (W + 2 * s.radius) * 8, 0, 0, "col_src", &p) &&
             ((s.col_src = p), 1) && get_buffer(&v, sums, 3 * C * 8, 1, 0, "sums", &p) &&
             ((s.sums = p), 1) && get_buffer(&v, errors, C * 8, 1, 1, "errors", &p) &&
             ((s.errors = p), 1) && get_buffer(&v, m_ssim, map, 1, 1, "ssim", &p) &&
             ((s.map_ssim = p), 1) && get_buffer(&v, m_cs, map, 1, 1, "cs", &p) &&
             ((s.map_cs = p), 1) && get_buffer(&v, m_l1, map, 1, 1, "l1", &p) &&
             ((s.map_l1 = p), 1) && get_buffer(&v, m_mix, map, 1, 1, "ssim_l1", &p) &&
             ((s.map_mix = p), 1);
    for (int m = 0; m < 4 && ok; m++) {
        ok = get_buffer(&v, ix[m], (size_t)s.rows * W, 1, 1, "index", &p);
        s.index[m] = p;
        s.any_index = s.any_index || p != NULL;
        s.index_low[m] = (float)scales[2 * m];
        s.index_scale[m] = (float)(255.0 / (scales[2 * m + 1] - scales[2 * m]));
    }
    if (ok) {
        /* Source indices must stay inside the image, whatever Python passed. */
        for (int k = 0; k < s.rows + 2 * s.radius && ok; k++)
            ok = s.row_src[k] < 0 || (s.row_src[k] >= s.row_base &&
                                      s.row_src[k] < s.row_base + s.buffer_rows);
        for (size_t k = 0; k < W + 2 * s.radius && ok; k++) ok = s.col_src[k] < s.width;
        if (!ok) PyErr_SetString(PyExc_ValueError, "strip: source index outside the image");
    }
    if (!ok) {
        release_views(&v);
        return NULL;
    }
    Buffers b;
    int allocated;
    float peak_value = 0.0f;
    Py_BEGIN_ALLOW_THREADS
    s.centre = calloc(2 * C, sizeof(float));
    allocated = s.centre && find_centre(&s) && alloc_buffers(&s, &b);
    if (allocated) {
        for (int p0 = 0; p0 < s.width; p0 += TILE_PIXELS) run_tile(&s, &b, p0);
        peak_value = b.peak;
        free_buffers(&b);
        /* x's levels, then y's where the buffer has room for them. */
        const size_t levels = (size_t)centre_bytes >= 2 * C * sizeof(float) ? 2 * C : C;
        memcpy(centre_out, s.centre, levels * sizeof(float));
        if (peak_out) *(double *)peak_out = (double)peak_value;
    }
    free(s.centre);
    Py_END_ALLOW_THREADS
    release_views(&v);
    if (!allocated) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* ---- PNG unfiltering ------------------------------------------------------------------- */

/* PNG's Paeth predictor (RFC 2083, 6.6). */
INLINE uint8_t paeth(int a, int b, int c) {
    const int p = a + b - c;
    const int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return (uint8_t)a;
    return (uint8_t)(pb <= pc ? b : c);
}

/* One row: ``raw`` (rowbytes filtered bytes) onto ``out`` given the row above (``up``, zeros
 * for the first row). ``out`` may be the very buffer ``raw`` lies in (unfiltering in place):
 * row i is written at i * rowbytes, below where its filtered bytes start (i * (rowbytes + 1)
 * + 1), and each byte is read before anything is written over it. BPP is a constant in each expansion, so the loops over a pixel's bytes
 * unroll. Returns 0 for an unknown filter type. */
#define UNFILTER_ROW(BPP)                                                                  \
    do {                                                                                   \
        switch (filter) {                                                                  \
        case 0: memmove(out, raw, rowbytes); break;                                        \
        case 1:                                                                            \
            memmove(out, raw, (BPP) < rowbytes ? (BPP) : rowbytes);                        \
            for (size_t i = (BPP); i < rowbytes; i++) out[i] = (uint8_t)(raw[i] + out[i - (BPP)]); \
            break;                                                                         \
        case 2:                                                                            \
            for (size_t i = 0; i < rowbytes; i++) out[i] = (uint8_t)(raw[i] + up[i]);      \
            break;                                                                         \
        case 3:                                                                            \
            for (size_t i = 0; i < (BPP) && i < rowbytes; i++)                             \
                out[i] = (uint8_t)(raw[i] + (up[i] >> 1));                                 \
            for (size_t i = (BPP); i < rowbytes; i++)                                      \
                out[i] = (uint8_t)(raw[i] + ((out[i - (BPP)] + up[i]) >> 1));              \
            break;                                                                         \
        case 4:                                                                            \
            for (size_t i = 0; i < (BPP) && i < rowbytes; i++)                             \
                out[i] = (uint8_t)(raw[i] + up[i]);                                        \
            for (size_t i = (BPP); i < rowbytes; i++)                                      \
                out[i] = (uint8_t)(raw[i] + paeth(out[i - (BPP)], up[i], up[i - (BPP)])); \
            break;                                                                         \
        default: return 0;                                                                 \
        }                                                                                  \
    } while (0)

#define UNFILTER_IMAGE(BPP)                                                                \
    do {                                                                                   \
        for (size_t row = 0; row < height; row++) {                                        \
            const uint8_t *raw = data + row * (rowbytes + 1) + 1;                          \
            const int filter = data[row * (rowbytes + 1)];                                 \
            uint8_t *out = pixels + row * rowbytes;                                        \
            const uint8_t *up = row ? out - rowbytes : first_up;                           \
            UNFILTER_ROW(BPP);                                                             \
        }                                                                                  \
    } while (0)

static int unfilter_image(const uint8_t *data, uint8_t *pixels, size_t height, size_t rowbytes,
                          int bpp, const uint8_t *first_up) {
    switch (bpp) {
    case 1: UNFILTER_IMAGE(1); break;
    case 2: UNFILTER_IMAGE(2); break;
    case 3: UNFILTER_IMAGE(3); break;
    case 4: UNFILTER_IMAGE(4); break;
    case 6: UNFILTER_IMAGE(6); break;
    case 8: UNFILTER_IMAGE(8); break;
    default: return 0;
    }
    return 1;
}

static PyObject *png_unfilter(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *data_obj, *pixels_obj;
    Py_ssize_t height, rowbytes, first_row = 0;
    int bpp;
    if (!PyArg_ParseTuple(args, "OOnni|n", &data_obj, &pixels_obj, &height, &rowbytes, &bpp,
                          &first_row))
        return NULL;
    if (height < 1 || rowbytes < 1 || (bpp != 1 && bpp != 2 && bpp != 3 && bpp != 4 &&
                                       bpp != 6 && bpp != 8) || rowbytes % bpp || first_row < 0 ||
        (first_row > 0 && pixels_obj == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "png_unfilter: bad geometry");
        return NULL;
    }
    Views v = {.used = 0};
    void *data, *pixels;
    const size_t h = (size_t)height, rb = (size_t)rowbytes;
    /* pixels=None: in place, into the first height * rowbytes bytes of data. */
    const int in_place = pixels_obj == Py_None;
    const size_t first = (size_t)first_row;
    if (!get_buffer(&v, data_obj, h * (rb + 1), in_place, 0, "data", &data) ||
        (in_place ? ((pixels = data), 0)
                  : !get_buffer(&v, pixels_obj, (first + h) * rb, 1, 0, "pixels", &pixels))) {
        release_views(&v);
        return NULL;
    }
    uint8_t *zeros = calloc(rb, 1);
    if (!zeros) {
        release_views(&v);
        return PyErr_NoMemory();
    }
    int ok;
    Py_BEGIN_ALLOW_THREADS
    /* Rows first .. first + h - 1; the row above the first is already in ``pixels``. */
    uint8_t *out = (uint8_t *)pixels + first * rb;
    ok = unfilter_image(data, out, h, rb, bpp, first ? out - rb : zeros);
    Py_END_ALLOW_THREADS
    free(zeros);
    release_views(&v);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "png_unfilter: unknown filter type");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- Heatmap colour index ---------------------------------------------------------------- */

static PyObject *quantise(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *values_obj, *out_obj;
    Py_ssize_t pixels, channels;
    double low, high;
    if (!PyArg_ParseTuple(args, "OnnddO", &values_obj, &pixels, &channels, &low, &high, &out_obj))
        return NULL;
    if (pixels < 0 || channels < 1) {
        PyErr_SetString(PyExc_ValueError, "quantise: bad geometry");
        return NULL;
    }
    Views v = {.used = 0};
    void *values, *out;
    if (!get_buffer(&v, values_obj, (size_t)pixels * channels * sizeof(float), 0, 0, "values",
                    &values) ||
        !get_buffer(&v, out_obj, (size_t)pixels, 1, 0, "out", &out)) {
        release_views(&v);
        return NULL;
    }
    /* The very operations of heatmap._quantise on float32 (NumPy casts the Python scalars to
     * float32): channels added in order, divided by their count, minus low, times
     * 255 / (high - low); NaN -> 0 (fmax), at most 255, truncated. */
    const float *in = values;
    uint8_t *index = out;
    const float lo = (float)low, scale = (float)(255.0 / (high - low));
    const size_t n = (size_t)pixels, c = (size_t)channels;
    Py_BEGIN_ALLOW_THREADS
    quantise_pixels(in, n, c, lo, scale, index);
    Py_END_ALLOW_THREADS
    release_views(&v);
    Py_RETURN_NONE;
}

static PyObject *colour_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *index_obj, *lut_obj, *rows_obj;
    Py_ssize_t height, width, offset, stride;
    int depth;
    if (!PyArg_ParseTuple(args, "OnnOOnni", &index_obj, &height, &width, &lut_obj, &rows_obj,
                          &offset, &stride, &depth))
        return NULL;
    if (height < 0 || width < 0 || offset < 0 || (depth != 1 && depth != 3) ||
        (height > 1 && stride < depth * width)) {
        PyErr_SetString(PyExc_ValueError, "colour_rows: bad geometry");
        return NULL;
    }
    Views v = {.used = 0};
    void *index, *lut, *rows;
    const size_t h = (size_t)height, w = (size_t)width, d = (size_t)depth;
    const size_t need = h ? (size_t)offset + (h - 1) * (size_t)stride + d * w : 0;
    if (!get_buffer(&v, index_obj, h * w, 0, 0, "index", &index) ||
        !get_buffer(&v, lut_obj, 256 * d, 0, 0, "lut", &lut) ||
        !get_buffer(&v, rows_obj, need, 1, 0, "rows", &rows)) {
        release_views(&v);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *idx = index, *table = lut;
    for (size_t r = 0; r < h; r++) {
        uint8_t *out = (uint8_t *)rows + (size_t)offset + r * (size_t)stride;
        const uint8_t *in = idx + r * w;
        if (d == 1) {
            for (size_t j = 0; j < w; j++) out[j] = table[in[j]];
            continue;
        }
        for (size_t j = 0; j < w; j++) {
            const uint8_t *rgb = table + 3 * (size_t)in[j];
            out[3 * j] = rgb[0];
            out[3 * j + 1] = rgb[1];
            out[3 * j + 2] = rgb[2];
        }
    }
    Py_END_ALLOW_THREADS
    release_views(&v);
    Py_RETURN_NONE;
}

/* ---- The local rule's worst window ------------------------------------------------------ */

/* Rows of the SSIM map into the search for the worst window (masked.RegionWindowFinder): each
 * row's channels are added in order, in float64, zero outside the averaging region (as
 * fast._OrderedFeed adds them); the row goes into a ring of the last ``size`` rows whose
 * column sums are kept running; each completed row of windows is then summed along the row,
 * and the mean over its weight (the count of in-region pixels, row count x column count) is
 * compared with the best so far, strictly: ties go to the first window in row-major order. */
static void add_window_rows(const float *ssim, size_t rows, size_t width, size_t channels,
                            int64_t first, size_t size, double *ring, double *columns,
                            const double *col_counts, const int64_t region[4],
                            double min_weight, double *best) {
    for (size_t i = 0; i < rows; i++) {
        const int64_t y = first + (int64_t)i;
        double *slot = ring + (size_t)(y % (int64_t)size) * width;
        const float *in = ssim + i * width * channels;
        const int inside_row = y >= region[0] && y < region[1];
        for (size_t x = 0; x < width; x++) {
            double v = 0.0;
            if (inside_row && (int64_t)x >= region[2] && (int64_t)x < region[3]) {
                const float *px = in + x * channels;
                v = (double)px[0];
                for (size_t c = 1; c < channels; c++) v += (double)px[c];
            }
            columns[x] += v - slot[x];
            slot[x] = v;
        }
        const int64_t top = y - (int64_t)size + 1;
        if (top < 0) continue;
        const int64_t bottom = top + (int64_t)size < region[1] ? top + (int64_t)size : region[1];
        const int64_t row_count = bottom - (top > region[0] ? top : region[0]);
        if (row_count <= 0) continue;
        double sum = 0.0;
        for (size_t x = 0; x < size; x++) sum += columns[x];
        for (size_t x = 0; x + size <= width; x++) {
            if (x) sum += columns[x + size - 1] - columns[x - 1];
            const double weight = (double)row_count * col_counts[x];
            if (weight < min_weight || weight <= 0.0) continue;
            const double mean = sum / weight;
            if (mean < best[0]) {
                best[0] = mean;
                best[1] = (double)x;
                best[2] = (double)top;
                best[3] = weight;
            }
        }
    }
}

static PyObject *window_rows(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ssim_obj, *ring_obj, *columns_obj, *counts_obj, *best_obj;
    Py_ssize_t rows, width, channels, first, size;
    long long r0, r1, c0, c1;
    double min_weight;
    if (!PyArg_ParseTuple(args, "OnnnnnOOO(LLLL)dO", &ssim_obj, &rows, &width, &channels,
                          &first, &size, &ring_obj, &columns_obj, &counts_obj, &r0, &r1, &c0,
                          &c1, &min_weight, &best_obj))
        return NULL;
    if (rows < 0 || width < 1 || channels < 1 || first < 0 || size < 1 || size > width) {
        PyErr_SetString(PyExc_ValueError, "window_rows: bad geometry");
        return NULL;
    }
    const size_t n = (size_t)rows, w = (size_t)width, c = (size_t)channels, k = (size_t)size;
    Views v = {.used = 0};
    void *ssim, *ring, *columns, *counts, *best;
    if (!get_buffer(&v, ssim_obj, n * w * c * sizeof(float), 0, 0, "ssim", &ssim) ||
        !get_buffer(&v, ring_obj, k * w * sizeof(double), 1, 0, "ring", &ring) ||
        !get_buffer(&v, columns_obj, w * sizeof(double), 1, 0, "columns", &columns) ||
        !get_buffer(&v, counts_obj, (w - k + 1) * sizeof(double), 0, 0, "col_counts", &counts) ||
        !get_buffer(&v, best_obj, 4 * sizeof(double), 1, 0, "best", &best)) {
        release_views(&v);
        return NULL;
    }
    const int64_t region[4] = {r0, r1, c0, c1};
    Py_BEGIN_ALLOW_THREADS
    add_window_rows(ssim, n, w, c, (int64_t)first, k, ring, columns, counts, region, min_weight,
                    best);
    Py_END_ALLOW_THREADS
    release_views(&v);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"colour_rows", colour_rows, METH_VARARGS,
     "colour_rows(index, height, width, lut, rows, offset, stride, depth)\n\n"
     "A (height, width) uint8 index through a 256 x depth uint8 table (depth 3: RGB; 1: a\n"
     "palette remap), written into ``rows`` from byte ``offset`` on, each image row\n"
     "``stride`` bytes after the previous."},
    {"quantise", quantise, METH_VARARGS,
     "quantise(values, pixels, channels, low, high, out)\n\n"
     "The heatmap colour index (heatmap.quantise) of ``pixels`` float32 pixels of ``channels``\n"
     "samples each (C-contiguous) into ``out`` (``pixels`` uint8)."},
    {"png_unfilter", png_unfilter, METH_VARARGS,
     "png_unfilter(data, pixels, height, rowbytes, bpp, first_row=0)\n\n"
     "Undo PNG's per-row filters: ``data`` holds ``height`` rows of a filter byte and\n"
     "``rowbytes`` bytes (the inflated IDAT stream of a non-interlaced image), ``pixels``\n"
     "receives ``height * rowbytes`` bytes (None: in place, at the start of a writable\n"
     "``data``); ``bpp``: bytes per pixel. With ``first_row``, the rows go to rows\n"
     "first_row.. of ``pixels``, whose row first_row - 1 is the one above (streaming).\n"
     "ValueError on an unknown filter type."},
    {"strip", strip, METH_VARARGS,
     "strip(x, y, dtype, row_base, buffer_rows, width, channels, taps, start, rows, weights,\n"
     "      centre, row_src,\n"
     "      col_src, divisor, c1, c2, scale, alpha, clip, need_ssim, (r0, r1, c0, c1), sums,\n"
     "      errors, ssim, cs, l1, ssim_l1, ssim_index, cs_index, l1_index, ssim_l1_index,\n"
     "      (low, high) * 4, peak=None)\n\n"
     "``centre`` (C or 2C float32) receives the level each channel of x (then of y, given\n"
     "room) was centred on; ``peak`` (1 float64, optional) the strip's largest x'^2 + y'^2 of\n"
     "those centred values (NaN ignored): far above data_range^2, float32 has lost the\n"
     "variances.\n"
     "SSIM, CS and L1 of output rows start..start+rows of two (H, W, C) images, of which x and\n"
     "y hold rows row_base..row_base+buffer_rows (C-contiguous): adds their\n"
     "sums over the averaging region to ``sums`` (3 x C float64) and the squared errors to\n"
     "``errors`` (C float64, or None); writes the map rows when their buffers are given, and\n"
     "the heatmap colour index of a map (rows x width uint8) on its (low, high) scale."},
    {"window_rows", window_rows, METH_VARARGS,
     "window_rows(ssim, rows, width, channels, first_row, size, ring, columns, col_counts,\n"
     "            (r0, r1, c0, c1), min_weight, best)\n\n"
     "Feed ``rows`` rows (image rows first_row..) of a (rows, width, channels) float32 SSIM map\n"
     "into the worst ``size`` x ``size`` window search: ``ring`` (size x width float64) and\n"
     "``columns`` (width float64) carry the running sums between calls, ``col_counts``\n"
     "(width - size + 1 float64) the in-region columns of each window; ``best`` (4 float64:\n"
     "mean of the channel sums, x, y, weight) is updated where a window with at least\n"
     "``min_weight`` in-region pixels has a strictly lower mean."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Fused strip kernel of the fast CPU engine.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
#ifdef HAVE_V3
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        run_tile = run_tile_v3;
        variant = "x86-64 AVX2+FMA";
    }
#endif
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "variant", variant) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
