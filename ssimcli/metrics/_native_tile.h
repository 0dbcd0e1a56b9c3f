/*
 * The hot loops of _native.c, included once per instruction-set variant: V(name) names this
 * variant's copy, TARGET its instruction set and MULADD(a, b, acc) is acc + a * b (one fused
 * multiply-add where the variant has them: the filters are otherwise bound by their adds).
 * Rounding differs between variants only in the filters' sums (within float32 rounding);
 * symmetry in x and y and exact 1 for identical images hold in both.
 */
#define HOT_INLINE static inline __attribute__((always_inline)) TARGET

/* out[j] = sum_k w[k] * rows[k][j] for j < n (rounded up to STEP): down the columns. A
 * symmetric window (every window here) adds the two rows that share a weight first. */
HOT_INLINE void V(filter_columns)(const float *const *rows, const float *w, int taps, int symmetric,
                           int n, float *out) {
    const int r = taps / 2;
    for (int j = 0; j < n; j += STEP) {
        vf acc[BLOCK];
        for (int b = 0; b < BLOCK; b++) acc[b] = splat(w[r]) * load(rows[r] + j + b * LANES);
        if (symmetric) {
            for (int k = 0; k < r; k++) {
                const vf wk = splat(w[k]);
                const float *top = rows[k] + j, *bottom = rows[taps - 1 - k] + j;
                for (int b = 0; b < BLOCK; b++)
                    acc[b] = MULADD(wk, load(top + b * LANES) + load(bottom + b * LANES), acc[b]);
            }
        } else {
            for (int k = 0; k < taps; k++) {
                if (k == r) continue;
                const vf wk = splat(w[k]);
                for (int b = 0; b < BLOCK; b++) acc[b] = MULADD(wk, load(rows[k] + j + b * LANES), acc[b]);
            }
        }
        for (int b = 0; b < BLOCK; b++) store(out + j + b * LANES, acc[b]);
    }
}

/* out[j] = sum_k w[k] * in[j + k * C] for j < n (rounded up to STEP): along the row, whose
 * samples interleave C channels. */
HOT_INLINE void V(filter_row)(const float *in, const float *w, int taps, int symmetric, int C, int n,
                       float *out) {
    const int r = taps / 2;
    for (int j = 0; j < n; j += STEP) {
        vf acc[BLOCK];
        const float *centre = in + j + r * C;
        for (int b = 0; b < BLOCK; b++) acc[b] = splat(w[r]) * load(centre + b * LANES);
        if (symmetric) {
            for (int k = 0; k < r; k++) {
                const vf wk = splat(w[k]);
                const float *left = in + j + k * C, *right = in + j + (taps - 1 - k) * C;
                for (int b = 0; b < BLOCK; b++)
                    acc[b] = MULADD(wk, load(left + b * LANES) + load(right + b * LANES), acc[b]);
            }
        } else {
            for (int k = 0; k < taps; k++) {
                if (k == r) continue;
                const vf wk = splat(w[k]);
                for (int b = 0; b < BLOCK; b++) acc[b] = MULADD(wk, load(in + j + k * C + b * LANES), acc[b]);
            }
        }
        for (int b = 0; b < BLOCK; b++) store(out + j + b * LANES, acc[b]);
    }
}

/* The product planes of one converted row: x'^2 + y'^2, x'y', |x' - y' + (cx - cy)| (as
 * fast._fill_band; ``delta`` holds cx - cy of each sample's channel). Returns the row's largest
 * x'^2 + y'^2 (NaN ignored), for the strip's ``peak``. */
HOT_INLINE float V(products)(const float *x, const float *y, const float *delta, int n,
                             float *squares, float *product, float *absdiff) {
    vf peak = splat(0.0f);
    for (int j = 0; j < n; j += LANES) {
        const vf a = load(x + j), b = load(y + j);
        const vf sq = a * a + b * b;
        store(squares + j, sq);
        store(product + j, a * b);
        store(absdiff + j, vabs((a - b) + load(delta + j)));
        peak = vmax(sq, peak);
    }
    float most = 0.0f;
    for (int k = 0; k < LANES; k++) most = peak[k] > most ? peak[k] : most;
    return most;
}

/* The formula of fast._strip_maps (core.maps_from_moments) on filtered moments. */
HOT_INLINE void V(formula)(const Strip *s, float *const *m, int n, float *const *pattern,
                    float *ssim_out, float *cs_out) {
    const vf c1 = splat(s->c1), c2 = splat(s->c2);
    const float sc = s->scale;
    const vf scale = splat(sc), twice = splat(2.0f * sc), zero = splat(0.0f), one = splat(1.0f);
    for (int j = 0; j < n; j += LANES) {
        const vf mx = load(m[0] + j), my = load(m[1] + j), sq = load(m[2] + j);
        const vf pr = load(m[3] + j);
        vf t1 = mx * my;
        vf d = mx - my;
        vf t3 = d * d;
        vf num = (twice * pr - twice * t1) + c2;
        vf den = (scale * sq - twice * t1) + c2;
        den = sc != 1.0f ? den - scale * t3 : den - t3;
        vf cs = num / den;
        if (s->need_ssim) {
            vf ux = mx + load(pattern[0] + j), uy = my + load(pattern[1] + j);
            vf u = ux * uy;
            vf t4 = (u + u) + c1;
            vf du = ux - uy;  /* each image has its own level: not mx - my */
            t3 = du * du;
            vf ssim = (t4 / (t4 + t3)) * cs;
            if (s->clip) ssim = vmin(vmax(ssim, zero), one);
            store(ssim_out + j, ssim);
        }
        if (s->clip) cs = vmin(vmax(cs, zero), one);
        store(cs_out + j, cs);
    }
}

/* One column tile of the strip, top to bottom: each band row is converted and multiplied out
 * once into a ring of ``taps`` rows, from which every output row is filtered. */
static TARGET void V(run_tile)(const Strip *s, Buffers *b, int p0) {
    const int C = s->channels, r = s->radius, K = s->taps;
    const int tp = p0 + TILE_PIXELS <= s->width ? TILE_PIXELS : s->width - p0;
    const size_t count = (size_t)tp * C;
    const int padded = (tp + 2 * r) * C;
    int symmetric = 1;
    for (int k = 0; k < r; k++) symmetric = symmetric && s->weights[k] == s->weights[K - 1 - k];
    for (int m = 0; m < 3; m++) memset(b->acc[m], 0, count * sizeof(double));
    if (s->want_errors) memset(b->err, 0, count * sizeof(double));
    /* Samples of this tile inside the averaging columns. */
    const int c0 = s->mean_c0 > p0 ? s->mean_c0 : p0;
    const int c1 = s->mean_c1 < p0 + tp ? s->mean_c1 : p0 + tp;
    const size_t from = c0 < c1 ? (size_t)(c0 - p0) * C : 0;
    const size_t to = c0 < c1 ? (size_t)(c1 - p0) * C : 0;
    const float *rows[PLANES][K];
    find_segments(s, p0, tp, &b->segments);
    int filled = 0;
    for (int i = 0; i < s->rows; i++) {
        for (; filled < i + K; filled++) {  /* band row ``filled`` is image row start - r + filled */
            const int slot = filled % K;
            convert_row(s, s->x, s->row_src[filled], &b->segments, b->pattern[0],
                        plane(b, slot, 0));
            convert_row(s, s->y, s->row_src[filled], &b->segments, b->pattern[1],
                        plane(b, slot, 1));
            const float peak = V(products)(plane(b, slot, 0), plane(b, slot, 1), b->pattern[2],
                                           padded, plane(b, slot, 2), plane(b, slot, 3),
                                           plane(b, slot, 4));
            if (peak > b->peak) b->peak = peak;
        }
        for (int p = 0; p < PLANES; p++) {
            for (int k = 0; k < K; k++) rows[p][k] = plane(b, (i + k) % K, p);
            V(filter_columns)(rows[p], s->weights, K, symmetric, padded, b->v[p]);
            V(filter_row)(b->v[p], s->weights, K, symmetric, C, (int)count, b->h[p]);
        }
        V(formula)(s, b->h, (int)count, b->pattern, b->row[0], b->row[1]);
        const int image_row = s->start + i;
        if (image_row >= s->mean_r0 && image_row < s->mean_r1 && from < to) {
            if (s->need_ssim) add_row(b->acc[0], b->row[0], from, to);
            add_row(b->acc[1], b->row[1], from, to);
            add_row(b->acc[2], b->h[4], from, to);
        }
        if (s->want_errors)
            add_errors(s, b->err, ((size_t)(image_row - s->row_base) * s->width + p0) * C, count);
        if (s->map_mix || s->index[3]) mix_row(s, b, count);
        write_maps(s, b, i, p0, count);
        if (s->any_index) write_indexes(s, b, i, p0, tp);
    }
    for (int c = 0; c < C; c++) {
        for (size_t k = (size_t)c; k < count; k += C) {
            for (int m = 0; m < 3; m++) s->sums[m * C + c] += b->acc[m][k];
            if (s->want_errors) s->errors[c] += b->err[k];
        }
    }
}

