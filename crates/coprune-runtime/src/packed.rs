//! Dense GEMM with the constant operand packed once at load: `C = epilogue(A × B)` where A (the
//! weights, M × K) is stored as [`MR`]-row panels, K-major, and B is read through row offsets
//! (`B[k][j] = src[offs[k] + j]`), so a convolution's B is its input itself (1×1), a padded copy
//! of it read at each tap's shift (stride 1: no im2col at all), or an im2col matrix. B is packed
//! [`NR`] columns at a time into an L1-sized panel just before use, or read where it lies when a
//! tile's rows share few enough cache lines (`direct_fits`). The transposed product of a
//! convolution (weights as B, packed once) may read its A, the input, in place too ([`ARows`]:
//! one row per output pixel, no im2col); the bias, the accumulation
//! over K blocks and a fused Relu/Clip happen on the register tile. The `gemm` crate cannot keep
//! A packed between calls nor read B through offsets, which is why convolutions use this
//! instead (doc/architecture.md). Microkernels chosen at run time: AVX-512 tiles of 6 rows ×
//! 16, 32 or 64 columns, a 6×16 AVX2+FMA one and a portable one, tested against each other and
//! the definition. [`gemm_wide`] stores a convolution's wide rows (each a few columns longer
//! than an output row) straight into the output plane with masked AVX-512 stores.
#![allow(unsafe_code)] // the microkernel's loads/stores, behind the bounds checked in `tile`

use crate::sparse::Isa;

/// Rows of C per register tile (broadcast from A).
pub const MR: usize = 6;
/// Columns of C per register tile (two AVX2 vectors of B).
pub const NR: usize = 16;
/// Depth of one pass over K: a packed B panel (KC × NR) stays in L1.
const KC: usize = 256;
/// The widest C (in columns) whose product with a packed A is split by rows on several threads
/// even when C has more columns than rows (see `gemm_into`).
const ROW_SPLIT_MAX_COLUMNS: usize = 1024;
/// Column panels of B packed together (KC × NC_PANELS·NR floats stay in L2) and swept by each
/// row panel of A (which stays in L1).
const NC_PANELS: usize = 16;

/// Panels of `width` columns over all of K, each `[k][width]`, the first on a cache line.
#[derive(Debug, Clone)]
struct Panels {
    data: Vec<f32>,
    /// Floats before the first panel.
    skip: usize,
    k: usize,
    width: usize,
}

impl Panels {
    /// `count` panels in a recycled buffer (operands packed per call would otherwise allocate,
    /// zero and, on the main thread's heap, fault in their pages again every call: the MLP at
    /// batch 256 ran 0.59 → 0.76 ms when one-thread sessions moved to the caller's thread), for
    /// the caller to fill.
    fn unfilled(count: usize, k: usize, width: usize) -> Panels {
        let data = crate::buffers::take(count * k * width + 16);
        let skip = data.as_ptr().align_offset(64).min(16);
        Panels {
            data,
            skip,
            k,
            width,
        }
    }

    /// Fills panel p of `count` (the last, which may be partial, is zeroed first).
    fn fill_one(count: usize, p: usize, panel: &mut [f32], fill: impl FnOnce(usize, &mut [f32])) {
        if p + 1 == count {
            panel.fill(0.0);
        }
        fill(p, panel);
    }

    /// [`Panels::new`] with the panels filled on `threads` threads (when there are enough of
    /// them to share).
    fn new_par(
        count: usize,
        k: usize,
        width: usize,
        threads: usize,
        fill: impl Fn(usize, &mut [f32]) + Sync + Send,
    ) -> Panels {
        if threads <= 1 || count < 2 * threads {
            return Panels::new(count, k, width, fill);
        }
        let mut p = Panels::unfilled(count, k, width);
        let size = (k * width).max(1);
        let skip = p.skip;
        crate::pool::chunks_mut(&mut p.data[skip..][..count * size], size, |i, panel| {
            Panels::fill_one(count, i, panel, &fill)
        });
        p
    }

    /// `count` panels, each handed to `fill(p, panel)` (the last one zeroed first).
    fn new(
        count: usize,
        k: usize,
        width: usize,
        mut fill: impl FnMut(usize, &mut [f32]),
    ) -> Panels {
        let mut p = Panels::unfilled(count, k, width);
        for (i, panel) in p.data[p.skip..]
            .chunks_mut((k * width).max(1))
            .enumerate()
            .take(count)
        {
            Panels::fill_one(count, i, panel, &mut fill);
        }
        p
    }

    /// The storage, for [`crate::buffers::recycle`].
    fn into_buffer(self) -> Vec<f32> {
        self.data
    }

    /// Steps k0..k0+kc of panel p.
    fn panel(&self, p: usize, k0: usize, kc: usize) -> &[f32] {
        &self.data[self.skip + (p * self.k + k0) * self.width..][..kc * self.width]
    }
}

/// A (M × K, row-major) packed as ⌈M/MR⌉ panels; panel p holds rows p·MR.. as `[k][MR]`
/// (rows past M are zeros).
#[derive(Debug, Clone)]
pub struct PackedA {
    pub m: usize,
    pub k: usize,
    panels: Panels,
}

impl PackedA {
    pub fn new(a: &[f32], m: usize, k: usize) -> PackedA {
        assert!(a.len() >= m * k, "A is {} floats, not {m}×{k}", a.len());
        let panels = Panels::new(m.div_ceil(MR), k, MR, |p, panel| {
            let h = MR.min(m - p * MR);
            if h < MR {
                for r in 0..h {
                    let row = &a[(p * MR + r) * k..][..k];
                    for (kk, &v) in row.iter().enumerate() {
                        panel[kk * MR + r] = v;
                    }
                }
                return;
            }
            // Full panels step through the six rows together, writing each step's MR values
            // side by side (row by row, every write was a scattered store: 14% of the MLP at
            // batch 256, whose activations are packed per call).
            let rows: [&[f32]; MR] = std::array::from_fn(|r| &a[(p * MR + r) * k..][..k]);
            for (kk, d) in panel.chunks_exact_mut(MR).enumerate().take(k) {
                for (r, v) in d.iter_mut().enumerate() {
                    *v = rows[r][kk];
                }
            }
        });
        PackedA { m, k, panels }
    }

    /// Bᵀ packed as A (n × k): the operand of the transposed product `Cᵀ = Bᵀ × Aᵀ`, used when
    /// B has few columns (see [`PackedB`]).
    /// Packed on `threads` threads: one thread packing it left a 960→160 convolution at 7×7
    /// 1.2× faster on two threads than on one.
    pub fn transposed(b: &BRows, threads: usize) -> PackedA {
        let (n, k) = (b.n, b.offs.len());
        let panels = Panels::new_par(n.div_ceil(MR), k, MR, threads, |p, panel| {
            let (j0, h) = (p * MR, MR.min(n - p * MR));
            if h < MR {
                for (d, &o) in panel.chunks_exact_mut(MR).zip(b.offs) {
                    d[..h].copy_from_slice(&b.src[o + j0..o + j0 + h]);
                }
                return;
            }
            // Full panels copy a fixed six floats per step: a copy of run-time length was a
            // call to memmove for every six floats (15% of a 960→160 convolution at 7×7).
            for (d, &o) in panel.chunks_exact_mut(MR).zip(b.offs) {
                let d: &mut [f32; MR] = d.try_into().expect("MR floats");
                let s: &[f32; MR] = b.src[o + j0..o + j0 + MR].try_into().expect("MR floats");
                *d = *s;
            }
        });
        PackedA { m: n, k, panels }
    }

    fn panel(&self, p: usize, k0: usize, kc: usize) -> &[f32] {
        self.panels.panel(p, k0, kc)
    }

    /// Hands the storage of an operand packed per call back for reuse.
    pub(crate) fn recycle(self) {
        crate::buffers::recycle(self.panels.into_buffer());
    }
}

/// A constant B (K × n, row-major) packed once as ⌈n/NR⌉ panels of `[k][NR]` (columns past n
/// are zeros). Convolutions whose output planes are small (a few dozen pixels) compute
/// `Cᵀ = (im2col)ᵀ × Wᵀ` with the weights packed this way: output channels then fill the
/// NR-wide register tiles that a 7×7 plane would leave a quarter empty.
#[derive(Debug, Clone)]
pub struct PackedB {
    pub k: usize,
    pub n: usize,
    panels: Panels,
}

impl PackedB {
    pub fn new(b: &[f32], k: usize, n: usize) -> PackedB {
        assert!(b.len() >= k * n, "B is {} floats, not {k}×{n}", b.len());
        let panels = Panels::new(n.div_ceil(NR), k, NR, |p, panel| {
            let (j0, w) = (p * NR, NR.min(n - p * NR));
            for (kk, d) in panel.chunks_exact_mut(NR).enumerate() {
                d[..w].copy_from_slice(&b[kk * n + j0..kk * n + j0 + w]);
            }
        });
        PackedB { k, n, panels }
    }

    fn panel(&self, p: usize, k0: usize, kc: usize) -> &[f32] {
        self.panels.panel(p, k0, kc)
    }
}

/// The B operand: read through row offsets and packed per call, or packed once.
#[derive(Debug, Clone, Copy)]
pub enum BMat<'a> {
    Rows(BRows<'a>),
    Packed(&'a PackedB),
}

impl<'a> BMat<'a> {
    fn rows(&self) -> Option<&BRows<'a>> {
        match self {
            BMat::Rows(b) => Some(b),
            BMat::Packed(_) => None,
        }
    }

    fn n(&self) -> usize {
        match self {
            BMat::Rows(b) => b.n,
            BMat::Packed(b) => b.n,
        }
    }
}

/// B (K × n) as rows of one slice: `B[k][j] = src[offs[k] + j]` for j < n.
#[derive(Debug, Clone, Copy)]
pub struct BRows<'a> {
    pub src: &'a [f32],
    pub offs: &'a [usize],
    pub n: usize,
}

/// A (m × K) read where it lies: `A[i][k] = src[offs[k] + rows[i]]`. A convolution's
/// transposed product reads its input this way: row i an output pixel, step k a tap, so
/// neither an im2col nor a packed copy is built (nor a column wasted past a row's end).
#[derive(Debug, Clone, Copy)]
pub struct ARows<'a> {
    pub src: &'a [f32],
    pub offs: &'a [usize],
    pub rows: &'a [usize],
}

/// The A operand: packed (once at load, or per call), or read where it lies.
#[derive(Debug, Clone, Copy)]
pub enum AMat<'a> {
    Packed(&'a PackedA),
    Rows(ARows<'a>),
}

impl AMat<'_> {
    fn m(&self) -> usize {
        match self {
            AMat::Packed(a) => a.m,
            AMat::Rows(a) => a.rows.len(),
        }
    }

    fn k(&self) -> usize {
        match self {
            AMat::Packed(a) => a.k,
            AMat::Rows(a) => a.offs.len(),
        }
    }

    /// Steps k0..k0+kc of row panel p (h = its rows).
    fn panel(&self, p: usize, k0: usize, kc: usize) -> APanel<'_> {
        match self {
            AMat::Packed(a) => APanel::Packed(a.panel(p, k0, kc)),
            AMat::Rows(a) => {
                let i0 = p * MR;
                let h = MR.min(a.rows.len() - i0);
                // Rows past the panel's last repeat its first (computed, never stored).
                let rows = std::array::from_fn(|r| a.rows[i0 + if r < h { r } else { 0 }]);
                APanel::Rows {
                    src: a.src,
                    offs: &a.offs[k0..k0 + kc],
                    rows,
                }
            }
        }
    }
}

/// One row panel of A over one K pass, as a tile reads it.
#[derive(Debug, Clone, Copy)]
enum APanel<'a> {
    /// `[k][MR]`.
    Packed(&'a [f32]),
    /// Step k, row r at `src[offs[k] + rows[r]]`.
    Rows {
        src: &'a [f32],
        offs: &'a [usize],
        rows: [usize; MR],
    },
}

impl APanel<'_> {
    /// A's value at step k, row r (the portable kernel's read).
    fn at(&self, k: usize, r: usize) -> f32 {
        match self {
            APanel::Packed(a) => a[k * MR + r],
            APanel::Rows { src, offs, rows } => src[offs[k] + rows[r]],
        }
    }

    /// Whether it holds kc steps.
    fn holds(&self, kc: usize) -> bool {
        match self {
            APanel::Packed(a) => a.len() >= kc * MR,
            APanel::Rows { offs, .. } => offs.len() >= kc,
        }
    }
}

/// What is done to each output before it is stored: `clamp(acc + bias[row], lo, hi)`, or with
/// `cols`, `clamp(acc + bias[column] + residual[row][column], lo, hi)`.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub lo: f32,
    pub hi: f32,
    pub cols: Option<Cols<'a>>,
}

/// A channels-last convolution's epilogue (its Cᵀ is the output): a bias per column of C and a
/// residual laid out as C (same row stride), added after the product. Only for the AVX-512
/// tiles of a transposed product whose A is read in place and whose columns fill whole panels
/// (`gemm` checks); `Epilogue::bias` is then None.
#[derive(Debug, Clone, Copy)]
pub struct Cols<'a> {
    pub bias: Option<&'a [f32]>,
    pub residual: Option<&'a [f32]>,
}

impl Epilogue<'_> {
    pub fn none() -> Epilogue<'static> {
        Epilogue {
            bias: None,
            lo: f32::NEG_INFINITY,
            hi: f32::INFINITY,
            cols: None,
        }
    }
}

/// The output: `C[i][j]` at `ptr + i·ldc + j` for i < m, j < n. Tasks write disjoint tiles of
/// it from several threads, so it is a raw pointer; `gemm` checks it fits the caller's slice.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    ldc: usize,
    /// Columns stored as output rows (see [`gemm_wide`]).
    wide: Option<Wide>,
}

/// Columns of C that are the wide rows of a convolution (`wq` columns each, of which the first
/// `ow` are output pixels): column j is stored at `(j / wq)·ow + j % wq` of its row of C, and
/// dropped when `j % wq ≥ ow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wide {
    pub wq: usize,
    pub ow: usize,
}

impl Wide {
    /// Where column j goes in its row of C, if it is kept.
    fn at(self, j: usize) -> Option<usize> {
        let col = j % self.wq;
        (col < self.ow).then(|| j / self.wq * self.ow + col)
    }
}

/// Where an AVX-512 register tile stores: plain, `c` is its first element (row stride `ldc`);
/// with `wide` = (j0, mapping), `c` is the start of its first row of C and column j0 + j of
/// the tile goes where [`Wide::at`] says.
#[derive(Clone, Copy)]
struct Dst {
    c: *mut f32,
    ldc: usize,
    wide: Option<(usize, Wide)>,
    /// The tile's first element, C[i0][j0].
    at: (usize, usize),
}

impl Out {
    /// The destination of the tile whose first element is C[i0][j0].
    fn dst(&self, i0: usize, j0: usize) -> Dst {
        match self.wide {
            None => Dst {
                c: self.ptr.wrapping_add(i0 * self.ldc + j0),
                ldc: self.ldc,
                wide: None,
                at: (i0, j0),
            },
            Some(w) => Dst {
                c: self.ptr.wrapping_add(i0 * self.ldc),
                ldc: self.ldc,
                wide: Some((j0, w)),
                at: (i0, j0),
            },
        }
    }
}
// SAFETY: every task writes a disjoint set of tiles (see `gemm`); the pointer comes from a
// `&mut [f32]` that outlives the parallel section.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

/// `C = epilogue(A × B)` for the m × n output held in `c` (row stride `ldc`), on up to
/// `threads` threads (tasks: column ranges, or row ranges when C has more rows than columns).
pub fn gemm(isa: Isa, a: AMat, b: BMat, c: &mut [f32], ldc: usize, epi: Epilogue, threads: usize) {
    gemm_into(isa, a, b, c, ldc, None, epi, threads)
}

/// [`gemm`] whose n columns are a convolution's wide rows (`wide.wq` columns each, n a multiple
/// of it): each row of C holds only the first `wide.ow` columns of every wide row, back to back
/// (an output plane), and the rest are never stored. The AVX-512 tiles store their vectors in
/// two masked parts, one per output row, so that no wide copy of C is written and compacted
/// afterwards (a second pass over resnet18's 56×56 and 112×112 outputs).
///
/// # Panics
/// Unless `isa` is AVX-512, `wide.ow ≥ 16` (a vector spans at most two output rows),
/// `ow ≤ wq`, n is a multiple of wq and C holds m rows of n / wq · ow.
#[allow(clippy::too_many_arguments)]
pub fn gemm_wide(
    isa: Isa,
    a: AMat,
    b: BMat,
    c: &mut [f32],
    ldc: usize,
    wide: Wide,
    epi: Epilogue,
    threads: usize,
) {
    assert!(
        isa == Isa::Avx512,
        "wide rows are stored by the AVX-512 tiles only"
    );
    assert!(wide.ow >= NR && wide.ow <= wide.wq, "wide rows {wide:?}");
    gemm_into(isa, a, b, c, ldc, Some(wide), epi, threads)
}

#[allow(clippy::too_many_arguments)]
fn gemm_into(
    isa: Isa,
    a: AMat,
    b: BMat,
    c: &mut [f32],
    ldc: usize,
    wide: Option<Wide>,
    epi: Epilogue,
    threads: usize,
) {
    let (m, k, n) = (a.m(), a.k(), b.n());
    if m == 0 || n == 0 {
        return;
    }
    // The stored columns of a row of C.
    let row = match wide {
        None => n,
        Some(w) => {
            assert!(n % w.wq == 0, "{n} columns are not wide rows of {}", w.wq);
            n / w.wq * w.ow
        }
    };
    assert!(ldc >= row && c.len() >= (m - 1) * ldc + row, "C too small");
    if let AMat::Rows(a) = a {
        let (last_off, last_row) = (a.offs.iter().max(), a.rows.iter().max());
        if let (Some(&o), Some(&r)) = (last_off, last_row) {
            assert!(o + r < a.src.len(), "A rows out of bounds");
        }
    }
    match b {
        BMat::Rows(b) => {
            assert_eq!(
                b.offs.len(),
                k,
                "B has {} rows, A {k} columns",
                b.offs.len()
            );
            assert!(
                b.offs.iter().all(|&o| o + n <= b.src.len()),
                "B rows out of bounds"
            );
        }
        BMat::Packed(b) => assert_eq!(b.k, k, "B has {} rows, A {k} columns", b.k),
    }
    if let Some(bias) = epi.bias {
        assert!(bias.len() >= m, "bias shorter than M");
    }
    if let Some(cols) = epi.cols {
        assert!(
            isa == Isa::Avx512
                && matches!((a, b), (AMat::Rows(_), BMat::Packed(_)))
                && n % NR == 0
                && wide.is_none()
                && epi.bias.is_none(),
            "a column epilogue is the AVX-512 transposed product's, over whole panels"
        );
        assert!(
            cols.bias.is_none_or(|b| b.len() >= n),
            "bias shorter than N"
        );
        assert!(
            cols.residual.is_none_or(|r| r.len() >= (m - 1) * ldc + n),
            "residual smaller than C"
        );
    }
    let out = Out {
        ptr: c.as_mut_ptr(),
        ldc,
        wide,
    };
    if k == 0 {
        let zero = [0f32; NR];
        for i in 0..m {
            for j0 in (0..n).step_by(NR) {
                let w = NR.min(n - j0);
                let end = tile_end(&epi, i, 1, true, true);
                tile(isa, 0, &APanel::Packed(&[]), &zero, out, i, j0, 1, w, &end);
            }
        }
        return;
    }
    let (mp, np) = (m.div_ceil(MR), n.div_ceil(NR));
    // Splitting the columns makes every task read all of A, splitting the rows makes every task
    // pack all of B: split the dimension whose other operand is smaller. Column tasks are
    // smaller than a thread's share so that threads that finish early take more.
    // Column tasks hold whole pairs of panels: the AVX-512 tile is two panels wide, and a task
    // of one or three panels runs half-width tiles (a 7×7 convolution's transposed product
    // of 10 panels in 8 tasks ran no faster on two threads than on one).
    // With AVX2 the tile is one panel wide, so tasks hold single panels: in pairs, a 7×7
    // convolution's 10 panels made 5 pairs, 3 for one thread and 2 for the other.
    // A read in place (`ARows`: the transposed product of a convolution) over a reduction at
    // least as deep as C is wide, with 8 row panels or more per thread, is split by rows
    // although C has more columns: resnet18's layer3 3×3 convolutions (196 pixels × 2304 ×
    // 256 channels) at 2 threads 0.97–1.0 -> 0.85 ms in the model, 0.94 -> 0.82 alone;
    // mobilenet_v2's widening 1×1 convolutions (k < n) were 10% slower split by rows.
    let unit = if isa == Isa::Avx512 { 2 } else { 1 };
    let units = np.div_ceil(unit);
    // A packed A (the weights) over a plane of at most 32×32 columns, with 4 row panels or more
    // per thread, is split by rows too: each thread then writes whole output channels, which the
    // next layer (a depthwise convolution, or a `SplitK` one) reads on the same thread, where
    // split by columns every thread read half of them from the other core's cache.
    // mobilenet_v2's 32→192 expansions at 28×28 on two threads, 1.18–1.25× faster and the
    // depthwise convolutions after them 1.15–1.24× (the model 4.43 -> 4.26 ms); at 56×56 and
    // 112×112 they were 13–17% slower split by rows.
    let small_plane =
        matches!(a, AMat::Packed(_)) && n <= ROW_SPLIT_MAX_COLUMNS && mp >= 4 * threads;
    let deep_in_place = matches!(a, AMat::Rows(_)) && k >= n && mp >= 8 * threads;
    let (col_chunks, row_chunks) = if threads <= 1 {
        (1, 1)
    } else if n >= m && !small_plane && !deep_in_place {
        (units.min(4 * threads), 1)
    } else {
        (1, mp.min(threads))
    };
    let passes = Passes::new(isa, &a, &b, k);
    let task = |t: usize, bp: &mut Vec<f32>| {
        let (cc, rc) = (t % col_chunks, t / col_chunks);
        let cols = (unit * (units * cc / col_chunks)).min(np)
            ..(unit * (units * (cc + 1) / col_chunks)).min(np);
        let rows = mp * rc / row_chunks..mp * (rc + 1) / row_chunks;
        run(isa, &a, &b, &passes, out, &epi, cols, rows, bp);
    };
    // Each thread keeps its B panels between calls: no allocation or page faults per call.
    thread_local! {
        static PANELS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let with_panels = |t: usize| {
        PANELS.with(|p| match p.try_borrow_mut() {
            Ok(mut bp) => task(t, &mut bp),
            Err(_) => task(t, &mut Vec::new()),
        })
    };
    let tasks = col_chunks * row_chunks;
    if tasks == 1 {
        with_panels(0);
    } else {
        crate::pool::for_each(tasks, with_panels);
    }
}

/// The AVX-512 register tile `$f::<h, V>` for h rows (≤ MR) and V panels.
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_tile {
    ($f:ident, $h:expr, $v:ident) => {
        match $h {
            6 => avx512::$f::<6, $v>,
            5 => avx512::$f::<5, $v>,
            4 => avx512::$f::<4, $v>,
            3 => avx512::$f::<3, $v>,
            2 => avx512::$f::<2, $v>,
            _ => avx512::$f::<1, $v>,
        }
    };
}

/// Runs `$body` with the const `V` set to `$vecs` (4, 2 or 1 vectors of B per AVX-512 tile).
#[cfg(target_arch = "x86_64")]
macro_rules! with_vecs {
    ($vecs:expr, $body:expr) => {
        match $vecs {
            4 => {
                const V: usize = 4;
                $body
            }
            2 => {
                const V: usize = 2;
                $body
            }
            _ => {
                const V: usize = 1;
                $body
            }
        }
    };
}

/// Vectors of B (16 columns each) in the AVX-512 tile at column panel `p`: four (an MR × 64
/// tile, 24 of the 32 registers) where four full panels remain before `end`, else two, else one.
/// The four-wide tile loads six broadcasts and four vectors per 24 FMAs (the two-wide one six
/// and two per 12): 3×3 convolutions ran 150 -> 171 GFLOP/s on a Sapphire Rapids core.
fn avx512_vecs(p: usize, end: usize) -> usize {
    match end.saturating_sub(p) {
        0 | 1 => 1,
        2 | 3 => 2,
        _ => 4,
    }
}

/// The K passes of a product (k > 0): equal depths of at most about KC (one pass when K is only
/// a little over KC), and whether each pass's rows of B may be read where they lie (see
/// `direct_fits`; `run` does so beside a packed A), decided once per product rather than by
/// each task.
struct Passes {
    depth: usize,
    direct: Vec<bool>,
}

impl Passes {
    fn new(isa: Isa, a: &AMat, b: &BMat, k: usize) -> Passes {
        // Beside an A read in place, AVX-512's four panels of B (64 columns) are what each row
        // panel re-reads from L1: half the depth keeps them there (32 KiB; resnet18's 14×14 and
        // 7×7 layers 3–4% faster on a Sapphire Rapids core).
        let kc = match (isa, a) {
            (Isa::Avx512, AMat::Rows(_)) => KC / 2,
            _ => KC,
        };
        let depth = if k <= kc + kc / 2 {
            k
        } else {
            k.div_ceil(k.div_ceil(kc))
        };
        let direct = (0..k)
            .step_by(depth)
            .map(|k0| {
                b.rows()
                    .is_some_and(|b| direct_fits(isa, b, k0, depth.min(k - k0)))
            })
            .collect();
        Passes { depth, direct }
    }
}

/// One task: column panels `cols` × row panels `rows`, every K pass.
#[allow(clippy::too_many_arguments)]
fn run(
    isa: Isa,
    a: &AMat,
    b: &BMat,
    passes: &Passes,
    out: Out,
    epi: &Epilogue,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    bp: &mut Vec<f32>,
) {
    let (m, k, n) = (a.m(), a.k(), b.n());
    let kc_max = passes.depth;
    // Panels start on cache lines: a 16-float row of B is then one line, not two.
    if bp.len() < kc_max * NR * NC_PANELS + 16 {
        bp.resize(kc_max * NR * NC_PANELS + 16, 0.0);
    }
    let skip = bp.as_ptr().align_offset(64).min(16);
    let bp = &mut bp[skip..];
    // The full column panels taken below, pass by pass in each tile (the rest of them, the
    // last, partial panel, go through the loop over passes after it).
    let mut done = cols.start;
    #[cfg(target_arch = "x86_64")]
    if let (Isa::Avx512, AMat::Packed(pa), Some(b)) = (isa, a, b.rows()) {
        if passes.direct.iter().all(|&d| d) {
            done = direct_tiles(pa, b, passes, out, epi, cols.clone(), rows.clone());
        }
    }
    if done == cols.end {
        return;
    }
    for (k0, &direct) in (0..k).step_by(kc_max).zip(&passes.direct) {
        let kc = kc_max.min(k - k0);
        let (first, last) = (k0 == 0, k0 + kc == k);
        // B's full panels are read where they lie (a convolution's input or phase planes), one
        // at a time with AVX2 (AVX-512: `direct_tiles`), each swept by every row panel while it
        // stays in L1: packing them cost an eighth of a 3×3 convolution. The last, partial
        // panel is packed.
        let mut c0 = done;
        // Built once per pass and row panel: rebuilt per tile, its copy stalled on store
        // forwarding (half of this function's time on 16-deep 1×1 convolutions).
        let ends = tile_ends(epi, rows.clone(), m, first, last);
        #[cfg(target_arch = "x86_64")]
        // (AVX2 beside a packed A only: an A read in place takes the loop further down, and
        // AVX-512 reads B in place in `direct_tiles`, when every pass does.)
        if let (Some(b), true, AMat::Packed(pa), Isa::Avx2Fma) = (b.rows(), direct, a, isa) {
            let full = cols.end.min(n / NR);
            let offs = &b.offs[k0..k0 + kc];
            // Row panels sweep the tile in chunks, so that their panels of A stay in L2 (256
            // rows of A, 258 KiB a pass, streamed past every tile, left a 14×14 convolution 2%
            // slower than packing B); the chunk's tiles of B are re-read from L2 or L3.
            for chunk in (rows.start..rows.end).step_by(MC_DIRECT) {
                let chunk = chunk..rows.end.min(chunk + MC_DIRECT);
                for c in c0..full {
                    let j0 = c * NR;
                    for ip in chunk.clone() {
                        let end = &ends[ip - rows.start];
                        let i0 = ip * MR;
                        let ap = pa.panel(ip, k0, kc);
                        assert!(ap.len() >= kc * MR);
                        let k = match MR.min(m - i0) {
                            6 => avx2::kernel_rows::<6, 2>,
                            5 => avx2::kernel_rows::<5, 2>,
                            4 => avx2::kernel_rows::<4, 2>,
                            3 => avx2::kernel_rows::<3, 2>,
                            2 => avx2::kernel_rows::<2, 2>,
                            _ => avx2::kernel_rows::<1, 2>,
                        };
                        // SAFETY: `Isa::Avx2Fma` comes from `Isa::detect` (AVX2 and FMA
                        // present); `gemm` checked every offs[k] + n ≤ src.len(), and j0 + NR ≤
                        // n; the tile's rows and columns of C lie inside the slice `gemm`
                        // checked (no wide rows: those are AVX-512's), and only this task writes
                        // them.
                        unsafe {
                            let b = b.src.as_ptr().add(j0);
                            k(
                                kc,
                                ap,
                                b,
                                offs,
                                out.ptr.add(i0 * out.ldc + j0),
                                out.ldc,
                                end,
                            )
                        };
                    }
                }
            }
            c0 = c0.max(full);
        }
        while c0 < cols.end {
            let c1 = cols.end.min(c0 + NC_PANELS);
            if let BMat::Rows(b) = b {
                pack_b(b, k0, kc, c0 * NR, n.min(c1 * NR), bp);
            }
            let panel = |jp: usize| match b {
                BMat::Rows(_) => &bp[(jp - c0) * kc * NR..][..kc * NR],
                BMat::Packed(b) => b.panel(jp, k0, kc),
            };
            if let AMat::Rows(_) = a {
                // A read in place (a convolution's input planes, a few KiB a pass) and one
                // panel of B both stay in L1 while every row panel sweeps it: B streamed from
                // L2 instead, once per row panel, held resnet18's 7×7 layers to 81 GFLOP/s.
                // Each row panel's row offsets are gathered once per pass, not per panel of B.
                let aps: Vec<APanel> = rows.clone().map(|ip| a.panel(ip, k0, kc)).collect();
                let mut jp = c0;
                while jp < c1 {
                    let j0 = jp * NR;
                    #[cfg(target_arch = "x86_64")]
                    if isa == Isa::Avx512 && j0 + NR <= n {
                        // One, two or four full panels side by side, as beside a packed A.
                        // The tile's panels are taken once, then swept by every row panel.
                        let vecs = avx512_vecs(jp, c1.min(n / NR));
                        with_vecs!(vecs, {
                            let bs = std::array::from_fn::<_, V, _>(|v| panel(jp + v));
                            for ((ip, end), ap) in rows.clone().zip(&ends).zip(&aps) {
                                let APanel::Rows { src, offs, rows } = ap else {
                                    unreachable!("A is read in place")
                                };
                                let i0 = ip * MR;
                                let c = out.dst(i0, j0);
                                let k = avx512_tile!(kernel_rows_a, MR.min(m - i0), V);
                                // SAFETY: `Isa::Avx512` comes from `Isa::detect` (AVX-512F
                                // present); `gemm` checked every offs[k] + rows[r] < src.len();
                                // the panels hold kc steps (asserted by the kernel); rows
                                // i0..i0 + h and the tile's columns (≤ n) of C lie inside the
                                // slice `gemm` checked, and only this task writes them.
                                unsafe { k(kc, src, offs, rows, bs, c, end) };
                            }
                        });
                        jp += vecs;
                        continue;
                    }
                    let (w, bpanel) = (NR.min(n - j0), panel(jp));
                    for ((ip, end), ap) in rows.clone().zip(&ends).zip(&aps) {
                        let i0 = ip * MR;
                        tile(isa, kc, ap, bpanel, out, i0, j0, MR.min(m - i0), w, end);
                    }
                    jp += 1;
                }
                c0 = c1;
                continue;
            }
            for (ip, end) in rows.clone().zip(&ends) {
                let i0 = ip * MR;
                let h = MR.min(m - i0);
                let ap = a.panel(ip, k0, kc);
                let mut jp = c0;
                while jp < c1 {
                    let j0 = jp * NR;
                    #[cfg(target_arch = "x86_64")]
                    if let (Isa::Avx512, true, APanel::Packed(ap)) = (isa, j0 + NR <= n, &ap) {
                        // One, two or four full panels side by side: an h × NR, h × 2·NR or
                        // h × 4·NR register tile (24 of the 32 registers at most).
                        let vecs = avx512_vecs(jp, c1.min(n / NR));
                        let c = out.dst(i0, j0);
                        // SAFETY: `Isa::Avx512` comes from `Isa::detect` (AVX-512F present); the
                        // panels hold kc steps (asserted by the kernel); rows i0..i0 + h and the
                        // tile's columns (≤ n) of C lie inside the slice `gemm` checked, and only
                        // this task writes them.
                        with_vecs!(vecs, unsafe {
                            let bs = std::array::from_fn::<_, V, _>(|v| panel(jp + v));
                            avx512_tile!(kernel, h, V)(kc, ap, bs, c, end)
                        });
                        jp += vecs;
                        continue;
                    }
                    let w = NR.min(n - j0);
                    tile(isa, kc, &ap, panel(jp), out, i0, j0, h, w, end);
                    jp += 1;
                }
            }
            c0 = c1;
        }
    }
}

/// The AVX-512 tiles of a product whose every K pass reads B where it lies, beside a packed A:
/// column tile by column tile (one, two or four panels), each tile's passes one after another
/// over every row panel, so that the tile's partial sums stay in cache from one pass to the
/// next; the first row panel of each pass prefetches the rows of B the next tile reads.
/// Returns the first column panel not taken (the partial one, if any). (A product with only
/// some passes in place, rare, packs B for all of them.)
///
/// Measured on resnet18's 64-channel 3×3 convolutions (three passes; 1 thread): their product
/// took 1.57 ms alone but 1.81 ms inside the model, where the layers in between leave its
/// input planes, output and weights out of cache (alone, after 64 MB of other writes: 1.77).
/// Prefetching the output lines ([`avx512::body`]) and the next tile's B brought it to 1.55
/// in the model; this loop order alone made no difference beyond noise.
#[cfg(target_arch = "x86_64")]
fn direct_tiles(
    pa: &PackedA,
    b: &BRows,
    passes: &Passes,
    out: Out,
    epi: &Epilogue,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
) -> usize {
    let (m, k, n) = (pa.m, pa.k, b.n);
    let kc_max = passes.depth;
    let starts: Vec<usize> = (0..k).step_by(kc_max).collect();
    // Each pass's tile ends per row panel, built once.
    let ends: Vec<Vec<TileEnd>> = starts
        .iter()
        .map(|&k0| tile_ends(epi, rows.clone(), m, k0 == 0, k0 + kc_max >= k))
        .collect();
    let full = cols.end.min(n / NR);
    let mut c = cols.start;
    while c < full {
        let vecs = avx512_vecs(c, full);
        let j0 = c * NR;
        for (&k0, ends) in starts.iter().zip(&ends) {
            let kc = kc_max.min(k - k0);
            let offs = &b.offs[k0..k0 + kc];
            for (ip, end) in rows.clone().zip(ends) {
                let i0 = ip * MR;
                let ap = pa.panel(ip, k0, kc);
                assert!(ap.len() >= kc * MR);
                let h = MR.min(m - i0);
                // SAFETY: the caller checked `Isa::Avx512` (from `Isa::detect`: AVX-512F
                // present); `gemm` checked every offs[k] + n ≤ src.len(), and j0 + vecs·NR ≤ n;
                // the tile's rows and columns of C lie inside the slice `gemm` checked, and
                // only this task writes them.
                unsafe {
                    let src = b.src.as_ptr().add(j0);
                    with_vecs!(
                        vecs,
                        avx512_tile!(kernel_rows, h, V)(
                            kc,
                            ap,
                            src,
                            offs,
                            out.dst(i0, j0),
                            end,
                            ip == rows.start
                        )
                    )
                };
            }
        }
        c += vecs;
    }
    cols.start.max(full)
}

/// The least depth read where it lies: shallower products are dominated by their stores, which
/// the packed order (six rows of 256 columns at a time) keeps together.
const DIRECT_MIN_K: usize = 64;
/// The most cache lines of B one two-panel tile may touch to be read where it lies (the tile is
/// reused by every row panel from L1: 24 KiB of a 32 KiB L1, beside A's panel).
const DIRECT_MAX_LINES: usize = 384;
/// Row panels that sweep each tile of B read in place in turn, with AVX2 (96 rows: 96 KiB of
/// A a pass).
const MC_DIRECT: usize = 16;

/// Whether rows k0..k0+kc of B are read in place: deep enough, and the tile's columns (2·NR
/// with AVX-512, NR with AVX2) touch few enough cache lines (a 3×3 convolution's taps share
/// lines: three taps, one row of lines). With AVX2, only when rows share lines, at most three
/// lines per four rows: the first row panel to sweep a tile waits on its lines, and 1×1
/// convolutions (one plane per row, no line shared) ran 5–12% slower read in place than packed
/// on Zen 3, while 3×3 ones ran 8% faster.
fn direct_fits(isa: Isa, b: &BRows, k0: usize, kc: usize) -> bool {
    let width = match isa {
        Isa::Avx512 => 2 * NR,
        Isa::Avx2Fma => NR,
        Isa::Portable => return false,
    };
    if kc < DIRECT_MIN_K {
        return false;
    }
    // A row's columns span at most width/16 + 1 lines; otherwise count the distinct ones, in
    // offset order (a strided convolution's taps alternate between phase planes).
    if isa == Isa::Avx512 && (width / 16 + 1) * kc <= DIRECT_MAX_LINES {
        return true;
    }
    let mut rows: Vec<(usize, usize)> = b.offs[k0..k0 + kc]
        .iter()
        .map(|&o| (o / 16, (o + width - 1) / 16 + 1))
        .collect();
    rows.sort_unstable();
    let (mut lines, mut end) = (0, 0);
    for (first, last) in rows {
        lines += last - first.max(end).min(last);
        end = end.max(last);
    }
    lines <= DIRECT_MAX_LINES && (isa == Isa::Avx512 || 4 * lines <= 3 * kc)
}

/// Rows k0..k0+kc, columns j0..j1 of B into `dst` as panels of `[k][NR]` (columns past j1
/// are zeros). Row by row, so that each source row is read in one contiguous sweep.
#[inline]
fn pack_b(b: &BRows, k0: usize, kc: usize, j0: usize, j1: usize, dst: &mut [f32]) {
    let full = (j1 - j0) / NR;
    let tail = (j1 - j0) % NR;
    for (kk, &o) in b.offs[k0..k0 + kc].iter().enumerate() {
        let row = &b.src[o + j0..o + j1];
        for (p, s) in row.chunks_exact(NR).enumerate() {
            let s: &[f32; NR] = s.try_into().expect("NR floats");
            dst[(p * kc + kk) * NR..][..NR].copy_from_slice(s);
        }
        if tail > 0 {
            let d = &mut dst[(full * kc + kk) * NR..][..NR];
            d[..tail].copy_from_slice(&row[full * NR..]);
            d[tail..].fill(0.0);
        }
    }
}

/// The AVX2 register tile `$f::<rows, 8·vectors>` for (⌈h/2⌉, w > NR/2).
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_tile {
    ($f:ident, $shape:expr) => {
        match $shape {
            (3, true) => avx2::$f::<6, 2>,
            (2, true) => avx2::$f::<4, 2>,
            (1, true) => avx2::$f::<2, 2>,
            (3, false) => avx2::$f::<6, 1>,
            (2, false) => avx2::$f::<4, 1>,
            _ => avx2::$f::<2, 1>,
        }
    };
}

/// One h × w (≤ MR × NR) tile of C at (i0, j0): `kc` steps of A's panel × B's panel, added to
/// C unless `first` (then the bias starts it), clamped when `last`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn tile(
    isa: Isa,
    kc: usize,
    ap: &APanel,
    bp: &[f32],
    out: Out,
    i0: usize,
    j0: usize,
    h: usize,
    w: usize,
    end: &TileEnd,
) {
    assert!(ap.holds(kc) && bp.len() >= kc * NR);
    if let Some(wide) = out.wide {
        // Wide rows: through a full-size buffer, each kept column from and to its place.
        let at = |r: usize, j: usize| wide.at(j0 + j).map(|o| (i0 + r) * out.ldc + o);
        let mut buf = [0f32; MR * NR];
        for r in 0..h {
            for j in 0..w {
                if let (false, Some(o)) = (end.first, at(r, j)) {
                    // SAFETY: row i0 + r < m of C, column o of it kept (< n / wq · ow): inside
                    // the slice `gemm_wide` checked; only this task writes this tile.
                    buf[r * NR + j] = unsafe { *out.ptr.add(o) };
                }
            }
        }
        let buf_out = Out {
            ptr: buf.as_mut_ptr(),
            ldc: NR,
            wide: None,
        };
        tile(isa, kc, ap, bp, buf_out, 0, 0, h, w, end);
        for r in 0..h {
            for j in 0..w {
                if let Some(o) = at(r, j) {
                    // SAFETY: as above.
                    unsafe { *out.ptr.add(o) = buf[r * NR + j] };
                }
            }
        }
        return;
    }
    // SAFETY: (i0 + h − 1)·ldc + j0 + w ≤ the C slice `gemm` checked, so the tile's rows lie
    // inside it; only this task writes this tile.
    let base = unsafe { out.ptr.add(i0 * out.ldc + j0) };
    let run = |c: *mut f32, ldc: usize| match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: both x86 `Isa`s come from `Isa::detect` (AVX2 and FMA present); ap/bp hold
        // kc steps (asserted above); c points at MR rows of NR floats with row stride ldc.
        isa if isa.avx2() => unsafe {
            // The smallest register tile that covers h × w: partial tiles skip the padding.
            let shape = (h.div_ceil(2), w > NR / 2);
            match ap {
                APanel::Packed(ap) => avx2_tile!(kernel, shape)(kc, ap, bp, c, ldc, end),
                APanel::Rows { src, offs, rows } => {
                    avx2_tile!(kernel_rows_a, shape)(kc, src, offs, rows, bp, c, ldc, end)
                }
            }
        },
        // SAFETY: as above.
        _ => unsafe { portable_kernel(kc, ap, bp, c, ldc, end) },
    };
    if h == MR && w == NR {
        run(base, out.ldc);
        return;
    }
    if let (1, APanel::Packed(ap)) = (w, ap) {
        // One column (a 7×7 plane's 49th): dot products down the panel's rows, where a
        // register tile would compute eight or sixteen columns for it.
        let dots = match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: both x86 `Isa`s come from `Isa::detect` (AVX2 and FMA present).
            isa if isa.avx2() => unsafe { column_avx2(kc, ap, bp) },
            _ => column::<false>(kc, ap, bp),
        };
        for (r, &d) in dots.iter().enumerate().take(h) {
            // SAFETY: row r < h of the tile's one column lies inside the C slice `gemm`
            // checked; only this task writes it.
            let c = unsafe { &mut *base.add(r * out.ldc) };
            let start = if end.first { end.bias[r] } else { *c };
            *c = (start + d).max(end.lo).min(end.hi);
        }
        return;
    }
    // A partial tile goes through a full-size buffer (zeroed only here: full tiles are the
    // common case).
    let mut buf = [0f32; MR * NR];
    if !end.first {
        for r in 0..h {
            // SAFETY: as above, row r of the tile has w valid elements.
            let row = unsafe { std::slice::from_raw_parts(base.add(r * out.ldc), w) };
            buf[r * NR..r * NR + w].copy_from_slice(row);
        }
    }
    run(buf.as_mut_ptr(), NR);
    for r in 0..h {
        // SAFETY: as above; the tile is this task's alone.
        let row = unsafe { std::slice::from_raw_parts_mut(base.add(r * out.ldc), w) };
        row.copy_from_slice(&buf[r * NR..r * NR + w]);
    }
}

/// `Σ_k ap[k·MR + r] · bp[k·NR]` for each of the panel's MR rows: four interleaved sums per row,
/// so that the additions do not wait on each other.
#[inline(always)]
fn column<const F: bool>(kc: usize, ap: &[f32], bp: &[f32]) -> [f32; MR] {
    let step = |s: &mut [f32; MR], k: usize| {
        let (a, b) = (&ap[k * MR..][..MR], bp[k * NR]);
        for r in 0..MR {
            s[r] = crate::sparse::fma::<F>(a[r], b, s[r]);
        }
    };
    let (mut s0, mut s1, mut s2, mut s3) = ([0f32; MR], [0f32; MR], [0f32; MR], [0f32; MR]);
    let mut k = 0;
    while k + 4 <= kc {
        step(&mut s0, k);
        step(&mut s1, k + 1);
        step(&mut s2, k + 2);
        step(&mut s3, k + 3);
        k += 4;
    }
    for k in k..kc {
        step(&mut s0, k);
    }
    std::array::from_fn(|r| (s0[r] + s1[r]) + (s2[r] + s3[r]))
}

/// [`column`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn column_avx2(kc: usize, ap: &[f32], bp: &[f32]) -> [f32; MR] {
    column::<true>(kc, ap, bp)
}

/// How the tiles of row panels `rows` (of an m-row C) end in one K pass.
fn tile_ends(
    epi: &Epilogue,
    rows: std::ops::Range<usize>,
    m: usize,
    first: bool,
    last: bool,
) -> Vec<TileEnd> {
    rows.map(|ip| tile_end(epi, ip * MR, MR.min(m - ip * MR), first, last))
        .collect()
}

/// How the tile of rows i0..i0 + h ends (see [`TileEnd`]).
fn tile_end(epi: &Epilogue, i0: usize, h: usize, first: bool, last: bool) -> TileEnd {
    let ptr = |v: Option<&[f32]>| v.map_or(std::ptr::null(), <[f32]>::as_ptr);
    let mut end = TileEnd {
        bias: [0f32; MR],
        first,
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
        cols: epi.cols.map(|c| ColEnd {
            bias: ptr(c.bias),
            residual: if last {
                ptr(c.residual)
            } else {
                std::ptr::null()
            },
        }),
    };
    if let Some(b) = epi.bias {
        end.bias[..h].copy_from_slice(&b[i0..i0 + h]);
    }
    if last {
        (end.lo, end.hi) = (epi.lo, epi.hi);
    }
    end
}

/// How a register tile ends: started from the bias (first K pass) or from C, then clamped to
/// [lo, hi] (±∞ before the last pass).
struct TileEnd {
    bias: [f32; MR],
    first: bool,
    lo: f32,
    hi: f32,
    /// A column epilogue ([`Cols`]), read only by the AVX-512 tile.
    cols: Option<ColEnd>,
}

/// [`Cols`] as a tile reads it: the bias (column j at `bias + j`) started from on the first
/// pass, and the residual (C[i][j]'s at `residual + i·ldc + j`) added on the last, each null
/// when there is none (or, for the residual, before the last pass).
struct ColEnd {
    bias: *const f32,
    residual: *const f32,
}

/// # Safety
/// `c` points at MR rows of NR floats, row stride `ldc`; ap/bp hold kc steps.
unsafe fn portable_kernel(
    kc: usize,
    ap: &APanel,
    bp: &[f32],
    c: *mut f32,
    ldc: usize,
    end: &TileEnd,
) {
    let mut acc = [[0f32; NR]; MR];
    for (k, b) in bp.chunks_exact(NR).take(kc).enumerate() {
        let a: [f32; MR] = std::array::from_fn(|r| ap.at(k, r));
        for r in 0..MR {
            for j in 0..NR {
                acc[r][j] += a[r] * b[j];
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        // SAFETY: the caller's contract.
        let dst = unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), NR) };
        for (d, &v) in dst.iter_mut().zip(row) {
            let start = if end.first { end.bias[r] } else { *d };
            *d = (start + v).max(end.lo).min(end.hi);
        }
    }
}

/// Step k's first R pointers into an A read in place (row r at `src + offs[k] + rows[r]`), for
/// the kernels' `a(k)`.
///
/// # Safety
/// The closure may be called only with k < offs.len() and offs[k] + rows[r] < src.len() for
/// r < R (what `gemm` checks of an [`ARows`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn rows_at<'a, const R: usize>(
    src: &'a [f32],
    offs: &'a [usize],
    rows: &'a [usize; MR],
) -> impl Fn(usize) -> [*const f32; R] + 'a {
    let a: [*const f32; MR] = std::array::from_fn(|r| src.as_ptr().wrapping_add(rows[r]));
    // SAFETY: the function's contract.
    move |k| unsafe {
        let o = *offs.get_unchecked(k);
        std::array::from_fn(|r| a[r].add(o))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{TileEnd, MR, NR};
    use std::arch::x86_64::*;

    /// The first `R` rows and `8·V` columns of a tile.
    ///
    /// # Safety
    /// AVX2 and FMA are present; `c` points at R rows of 8·V floats, row stride `ldc`;
    /// ap/bp hold kc·MR and kc·NR floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel<const R: usize, const V: usize>(
        kc: usize,
        ap: &[f32],
        bp: &[f32],
        c: *mut f32,
        ldc: usize,
        end: &TileEnd,
    ) {
        assert!(bp.len() >= kc * NR && ap.len() >= kc * MR);
        let (a, b) = (ap.as_ptr(), bp.as_ptr());
        // SAFETY: step k reads R ≤ MR floats at k·MR of ap and 8·V ≤ NR at k·NR of bp, inside
        // them (asserted).
        unsafe {
            body::<R, V>(
                kc,
                |k| std::array::from_fn(|r| a.add(k * MR + r)),
                |k| std::array::from_fn(|v| _mm256_loadu_ps(b.add(k * NR + 8 * v))),
                c,
                ldc,
                end,
            )
        }
    }

    /// [`kernel`] reading A where it lies: step k, row r at `src[offs[k] + rows[r]]`.
    ///
    /// # Safety
    /// As [`kernel`], and offs[k] + rows[r] < src.len() for every k < kc and r < R.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn kernel_rows_a<const R: usize, const V: usize>(
        kc: usize,
        src: &[f32],
        offs: &[usize],
        rows: &[usize; MR],
        bp: &[f32],
        c: *mut f32,
        ldc: usize,
        end: &TileEnd,
    ) {
        assert!(bp.len() >= kc * NR && offs.len() >= kc);
        let b = bp.as_ptr();
        // SAFETY: the contract; bp as in [`kernel`].
        unsafe {
            body::<R, V>(
                kc,
                super::rows_at(src, offs, rows),
                |k| std::array::from_fn(|v| _mm256_loadu_ps(b.add(k * NR + 8 * v))),
                c,
                ldc,
                end,
            )
        }
    }

    /// [`kernel`] reading B where it lies: step k's 8·V columns at `src + offs[k]`.
    ///
    /// # Safety
    /// As [`kernel`], and `src + offs[k]` starts 8·V readable floats for every k < kc.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn kernel_rows<const R: usize, const V: usize>(
        kc: usize,
        ap: &[f32],
        src: *const f32,
        offs: &[usize],
        c: *mut f32,
        ldc: usize,
        end: &TileEnd,
    ) {
        assert!(offs.len() >= kc && ap.len() >= kc * MR);
        let a = ap.as_ptr();
        // SAFETY: the contract; R ≤ MR floats at k·MR of ap (asserted).
        unsafe {
            body::<R, V>(
                kc,
                |k| std::array::from_fn(|r| a.add(k * MR + r)),
                |k| {
                    let q = src.add(*offs.get_unchecked(k));
                    std::array::from_fn(|v| _mm256_loadu_ps(q.add(8 * v)))
                },
                c,
                ldc,
                end,
            )
        }
    }

    /// The tile's K loop (A's step k at the R pointers `a(k)`, B's from `b(k)`) and its end.
    ///
    /// # Safety
    /// AVX2 and FMA are present; `c` points at R rows of 8·V floats, row stride `ldc`; `a(k)`
    /// points at R readable floats and `b(k)` is safe to call, for k < kc.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn body<const R: usize, const V: usize>(
        kc: usize,
        a: impl Fn(usize) -> [*const f32; R],
        b: impl Fn(usize) -> [__m256; V],
        c: *mut f32,
        ldc: usize,
        end: &TileEnd,
    ) {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        for k in 0..kc {
            // SAFETY: a(k) and b(k) are the caller's.
            unsafe {
                let (ak, bv) = (a(k), b(k));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*ak[r]);
                    for v in 0..V {
                        acc[v] = _mm256_fmadd_ps(av, bv[v], acc[v]);
                    }
                }
            }
        }
        let (vlo, vhi) = (_mm256_set1_ps(end.lo), _mm256_set1_ps(end.hi));
        for (r, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                // SAFETY: row r of the tile: 8·V floats at c + r·ldc (the caller's contract).
                unsafe {
                    let p = c.add(r * ldc + 8 * v);
                    let s = if end.first {
                        _mm256_set1_ps(end.bias[r])
                    } else {
                        _mm256_loadu_ps(p)
                    };
                    let y = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(s, acc), vlo), vhi);
                    _mm256_storeu_ps(p, y);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Dst, TileEnd, Wide, MR, NR};
    use std::arch::x86_64::*;

    /// The first `R` rows of a tile `V` panels wide: columns 0..NR from panel `b0`, NR..2·NR
    /// from `b1` (read only when V = 2), one 16-float vector each.
    ///
    /// # Safety
    /// AVX-512F is present; `c` points at R rows of V·NR floats, row stride `ldc`; ap holds
    /// kc·MR floats, b0 and b1 kc·NR each; R ≤ MR, V ≤ 2.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel<const R: usize, const V: usize>(
        kc: usize,
        ap: &[f32],
        bs: [&[f32]; V],
        c: Dst,
        end: &TileEnd,
    ) {
        assert!(ap.len() >= kc * MR && bs.iter().all(|b| b.len() >= kc * NR));
        let (a, p) = (ap.as_ptr(), bs.map(|b| b.as_ptr()));
        // SAFETY: step k reads R ≤ MR floats at k·MR of ap (asserted) and NR floats at k·NR of
        // b0 and b1, inside them (the contract).
        unsafe {
            body::<R, V>(
                kc,
                |k| std::array::from_fn(|r| a.add(k * MR + r)),
                |k| std::array::from_fn(|v| _mm512_loadu_ps(p[v].add(k * NR))),
                c,
                end,
            )
        }
    }

    /// [`kernel`] reading B where it lies: step k's V·NR columns at `src + offs[k]`; when
    /// `ahead`, also prefetching the V·NR columns after them (the next tile's).
    ///
    /// # Safety
    /// As [`kernel`], and `src + offs[k]` starts V·NR readable floats for every k < kc.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn kernel_rows<const R: usize, const V: usize>(
        kc: usize,
        ap: &[f32],
        src: *const f32,
        offs: &[usize],
        c: Dst,
        end: &TileEnd,
        ahead: bool,
    ) {
        assert!(offs.len() >= kc && ap.len() >= kc * MR);
        let a = ap.as_ptr();
        // SAFETY: the contract; R ≤ MR floats at k·MR of ap (asserted).
        unsafe {
            body::<R, V>(
                kc,
                |k| std::array::from_fn(|r| a.add(k * MR + r)),
                |k| {
                    let q = src.add(*offs.get_unchecked(k));
                    if ahead {
                        // A hint only: addresses past the end of B are never dereferenced.
                        for l in 0..=V {
                            _mm_prefetch::<_MM_HINT_T0>(q.wrapping_add((V + l) * NR) as *const i8);
                        }
                    }
                    std::array::from_fn(|v| _mm512_loadu_ps(q.add(v * NR)))
                },
                c,
                end,
            )
        }
    }

    /// [`kernel`] reading A where it lies: step k, row r at `src[offs[k] + rows[r]]`.
    ///
    /// # Safety
    /// As [`kernel`] (ap aside), and offs[k] + rows[r] < src.len() for every k < kc and r < R.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn kernel_rows_a<const R: usize, const V: usize>(
        kc: usize,
        src: &[f32],
        offs: &[usize],
        rows: &[usize; MR],
        bs: [&[f32]; V],
        c: Dst,
        end: &TileEnd,
    ) {
        assert!(offs.len() >= kc && bs.iter().all(|b| b.len() >= kc * NR));
        let p = bs.map(|b| b.as_ptr());
        // SAFETY: the contract; b0 and b1 hold kc steps (asserted).
        unsafe {
            body::<R, V>(
                kc,
                super::rows_at(src, offs, rows),
                |k| std::array::from_fn(|v| _mm512_loadu_ps(p[v].add(k * NR))),
                c,
                end,
            )
        }
    }

    /// The register tile: `a(k)` points at step k's R values of A, `b(k)` gives its V
    /// vectors of B.
    ///
    /// # Safety
    /// AVX-512F is present; `c` points at R rows of V·NR floats, row stride `ldc`; `a(k)`
    /// points at R readable floats and `b(k)` is safe to call, for k < kc.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn body<const R: usize, const V: usize>(
        kc: usize,
        a: impl Fn(usize) -> [*const f32; R],
        b: impl Fn(usize) -> [__m512; V],
        c: Dst,
        end: &TileEnd,
    ) {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        // The lines this tile stores, asked for (to write) before its K loop: inside a model
        // the output is often out of cache, and stores that miss stalled the tile at its end
        // (see `direct_tiles`). Hints only: nothing is dereferenced here.
        let first = match c.wide {
            None => c.c,
            Some((j0, Wide { wq, ow })) => c.c.wrapping_add(j0 / wq * ow + j0 % wq),
        };
        for r in 0..R {
            let p = first.wrapping_add(r * c.ldc);
            for l in (0..V * NR + 15).step_by(16) {
                _mm_prefetch::<_MM_HINT_ET0>(p.wrapping_add(l) as *const i8);
            }
        }
        for k in 0..kc {
            // SAFETY: a(k) and b(k) are the caller's.
            unsafe {
                let (ak, bv) = (a(k), b(k));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ak[r]);
                    for v in 0..V {
                        acc[v] = _mm512_fmadd_ps(av, bv[v], acc[v]);
                    }
                }
            }
        }
        let (vlo, vhi) = (_mm512_set1_ps(end.lo), _mm512_set1_ps(end.hi));
        let Some((j0, Wide { wq, ow })) = c.wide else {
            let (i0, j0) = c.at;
            for (r, acc) in acc.iter().enumerate() {
                for (v, &acc) in acc.iter().enumerate() {
                    // SAFETY: row r of the tile: V·NR floats at c + r·ldc (the caller's
                    // contract); a column epilogue's bias holds every column of C and its
                    // residual every element, at C's stride (`gemm` checked both).
                    unsafe {
                        let p = c.c.add(r * c.ldc + NR * v);
                        let j = j0 + NR * v;
                        let s = match (end.first, &end.cols) {
                            (false, _) => _mm512_loadu_ps(p),
                            (true, None) => _mm512_set1_ps(end.bias[r]),
                            (true, Some(e)) if e.bias.is_null() => _mm512_setzero_ps(),
                            (true, Some(e)) => _mm512_loadu_ps(e.bias.add(j)),
                        };
                        let mut y = _mm512_add_ps(s, acc);
                        if let Some(e) = end.cols.as_ref().filter(|e| !e.residual.is_null()) {
                            let q = e.residual.add((i0 + r) * c.ldc + j);
                            y = _mm512_add_ps(y, _mm512_loadu_ps(q));
                        }
                        let y = _mm512_min_ps(_mm512_max_ps(y, vlo), vhi);
                        _mm512_storeu_ps(p, y);
                    }
                }
            }
            return;
        };
        // Wide rows: lanes before the end of the vector's first output row (column ow of its
        // wide row) go to that row, lanes past the wide row's end (wq) to the next one, which
        // starts wq − ow floats earlier than the wide row's layout would put it.
        let lanes = |n: usize| if n >= NR { u16::MAX } else { (1u16 << n) - 1 };
        for v in 0..V {
            let j = j0 + NR * v;
            let (row, col) = (j / wq, j % wq);
            let first = if col < ow { lanes(ow - col) } else { 0 };
            let next = if wq - col < NR { !lanes(wq - col) } else { 0 };
            let off = row * ow + col;
            for (r, acc) in acc.iter().enumerate() {
                // SAFETY: the masked lanes are columns j..j + NR of C's row r (the caller's
                // contract: j + NR ≤ n): those of `first` at off + l < (row + 1)·ow, those of
                // `next` at (row + 1)·ow + l − (wq − col) < (row + 2)·ow, inside the row as
                // ow ≥ NR (`gemm_wide` asserts it); masked-off lanes are never accessed.
                unsafe {
                    let p1 = c.c.wrapping_add(r * c.ldc + off);
                    let p2 = p1.wrapping_sub(wq - ow);
                    let s = if end.first {
                        _mm512_set1_ps(end.bias[r])
                    } else {
                        let s = _mm512_maskz_loadu_ps(first, p1);
                        _mm512_mask_loadu_ps(s, next, p2)
                    };
                    let y = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(s, acc[v]), vlo), vhi);
                    _mm512_mask_storeu_ps(p1, first, y);
                    _mm512_mask_storeu_ps(p2, next, y);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f32], b: &BRows, m: usize, k: usize, epi: &Epilogue) -> Vec<f32> {
        let n = b.n;
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for kk in 0..k {
                    s += a[i * k + kk] as f64 * b.src[b.offs[kk] + j] as f64;
                }
                let v = s as f32 + epi.bias.map_or(0.0, |b| b[i]);
                c[i * n + j] = v.max(epi.lo).min(epi.hi);
            }
        }
        c
    }

    fn data(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8;
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn wide_rows_store_what_the_plain_product_and_a_compaction_do() {
        if !Isa::available().contains(&Isa::Avx512) {
            return;
        }
        // (m, k, output rows, wide row, output row): one and several K passes, partial row
        // panels, a tail panel, vectors spanning two output rows, one-column waste (17 / 16).
        for (m, k, oh, wq, ow) in [
            (7, 40, 3, 58, 56),
            (13, 600, 5, 30, 28),
            (64, 300, 4, 17, 16),
            (6, 9, 2, 113, 112),
            (20, 0, 3, 20, 18),
        ] {
            let n = oh * wq;
            let a = data(m * k, 1);
            let src = data(k * (n + 3) + 5, 2);
            let offs: Vec<usize> = (0..k).map(|kk| kk / 3 * (n + 3) + kk % 3).collect();
            let b = BRows {
                src: &src,
                offs: &offs,
                n,
            };
            let bias = data(m, 3);
            let epi = Epilogue {
                bias: Some(&bias),
                lo: 0.0,
                hi: 6.0,
                cols: None,
            };
            let pa = PackedA::new(&a, m, k);
            let mut plain = vec![0f32; m * n];
            gemm(
                Isa::Avx512,
                AMat::Packed(&pa),
                BMat::Rows(b),
                &mut plain,
                n,
                epi,
                1,
            );
            let (row, ldc) = (oh * ow, oh * ow + 3);
            for threads in [1, 2, 3] {
                let mut c = vec![f32::NAN; m * ldc];
                let pool = crate::pool::Pool::new(threads).unwrap();
                pool.install(|| {
                    gemm_wide(
                        Isa::Avx512,
                        AMat::Packed(&pa),
                        BMat::Rows(b),
                        &mut c[..(m - 1) * ldc + row],
                        ldc,
                        Wide { wq, ow },
                        epi,
                        threads,
                    )
                });
                for i in 0..m {
                    for j in 0..row {
                        let want = plain[i * n + j / ow * wq + j % ow];
                        assert_eq!(
                            c[i * ldc + j].to_bits(),
                            want.to_bits(),
                            "{m}x{k} {oh}x{wq}/{ow} t{threads} ({i},{j})"
                        );
                    }
                    for j in row..ldc.min(c.len() - i * ldc) {
                        assert!(c[i * ldc + j].is_nan(), "wrote outside C at ({i},{j})");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_the_definition_on_every_isa_shape_and_thread_count() {
        // Shapes cover partial row/column tiles, one and several K passes, K = 0 and tiny n,
        // odd and even counts of full column panels.
        let shapes = [
            (1, 1, 1),
            (6, 16, 16),
            (7, 3, 17),
            (13, 300, 33),
            (64, 576, 49),
            (5, 700, 5),
            (12, 0, 20),
            (31, 385, 100),
            (13, 192, 80),
            (7, 96, 37),
            (6, 600, 64),
            (20, 130, 200),
            // Transposed, on two threads: A read in place split by rows (100 rows, k ≥ 128).
            (128, 700, 100),
            // Packed A over a small plane, on two threads: split by rows although n > m.
            (50, 40, 300),
        ];
        for isa in Isa::available() {
            for (&(m, k, n), taps) in shapes.iter().flat_map(|s| [(s, false), (s, true)]) {
                let a = data(m * k, 1);
                // B rows at scattered offsets inside a larger buffer, or as a 3-wide
                // convolution's taps read them (three rows one float apart: deep ones are read
                // in place with AVX-512, see `direct_fits`).
                let src = data(k * (n + 3) + 5, 2);
                let offs: Vec<usize> = (0..k)
                    .map(|kk| match taps {
                        false => (kk * 7919) % (k * (n + 3) + 5 - n),
                        true => kk / 3 * (n + 3) + kk % 3,
                    })
                    .collect();
                let b = BRows {
                    src: &src,
                    offs: &offs,
                    n,
                };
                let bias = data(m, 3);
                for (epi, threads) in [
                    (Epilogue::none(), 1),
                    (
                        Epilogue {
                            bias: Some(&bias),
                            lo: 0.0,
                            hi: 6.0,
                            cols: None,
                        },
                        2,
                    ),
                    (
                        Epilogue {
                            bias: Some(&bias),
                            lo: f32::NEG_INFINITY,
                            hi: f32::INFINITY,
                            cols: None,
                        },
                        3,
                    ),
                ] {
                    let want = reference(&a, &b, m, k, &epi);
                    let ldc = n + 2;
                    let mut c = vec![f32::NAN; m * ldc];
                    let pa = PackedA::new(&a, m, k);
                    let pool = crate::pool::Pool::new(threads).unwrap();
                    pool.install(|| {
                        gemm(
                            isa,
                            AMat::Packed(&pa),
                            BMat::Rows(b),
                            &mut c,
                            ldc,
                            epi,
                            threads,
                        )
                    });
                    for i in 0..m {
                        for j in 0..n {
                            let (g, w) = (c[i * ldc + j], want[i * n + j]);
                            assert!(
                                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                                "{isa:?} {m}x{k}x{n} taps {taps} t{threads} ({i},{j}): {g} vs {w}"
                            );
                        }
                        // The gap between rows is never written.
                        for j in n..ldc.min(c.len() - i * ldc) {
                            assert!(c[i * ldc + j].is_nan(), "wrote outside C at ({i},{j})");
                        }
                    }
                    // The transposed product: Cᵀ = Bᵀ × Aᵀ with Aᵀ packed once, and Bᵀ packed
                    // per call or read where it lies.
                    let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
                    let (bt, pb) = (PackedA::transposed(&b, threads), PackedB::new(&at, k, m));
                    let cols: Vec<usize> = (0..n).collect();
                    let rows = ARows {
                        src: &src,
                        offs: &offs,
                        rows: &cols,
                    };
                    let plain = Epilogue::none();
                    let want = reference(&a, &b, m, k, &plain);
                    for (how, a) in [
                        ("packed", AMat::Packed(&bt)),
                        ("in place", AMat::Rows(rows)),
                    ] {
                        let mut ct = vec![f32::NAN; n * m];
                        pool.install(|| {
                            gemm(isa, a, BMat::Packed(&pb), &mut ct, m, plain, threads)
                        });
                        for i in 0..m {
                            for j in 0..n {
                                let (g, w) = (ct[j * m + i], want[i * n + j]);
                                assert!(
                                    (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                                    "transposed, Bᵀ {how}, {isa:?} {m}x{k}x{n} t{threads} \
                                     ({i},{j}): {g} vs {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
