//! Sparse kernels: constant weights with many zeros stored compressed, multiplied by dense
//! activations, so that sparsity becomes speed.
//!
//! Formats (chosen per layer by [`SparseWeights::from_dense`]):
//! - **CSR** (row pointers, u32 column indices, values) for unstructured and N:M sparsity (N:M
//!   rows all hold the same number of non-zeros, so work splits evenly);
//! - **blocked CSR** with 4×1 blocks (four consecutive output rows sharing one input column)
//!   when at least 80% of the stored blocks would be full: each activation row loaded feeds four
//!   accumulators instead of one.
//!
//! The product is `Y (M×N) = W (M×K, sparse) × X (K×N, dense, row-major)`. The N axis is cut into
//! tiles of 64 columns (then 8, then single columns); for each tile every output row keeps its
//! accumulators in registers while it walks its non-zeros, each a broadcast-multiply-add of one
//! activation row. The loops are written once, generically, and compiled for AVX2+FMA
//! (selected at run time when the CPU has it) and portable; the CSR and blocked tiles also have
//! AVX-512 versions (`avx512`), selected when the CPU has AVX-512F.
#![allow(unsafe_code)] // only the calls into the `#[target_feature]` functions, see `Isa::run`

use crate::packed::Epilogue;

/// Rows per block of the blocked format.
pub const BLOCK_ROWS: usize = 4;

/// Instruction set a sparse kernel runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 AVX-512F with AVX2 and FMA: dense GEMM tiles and the sparse 64-column tiles (CSR
    /// two rows at a time, 4×1 blocks) run on 16-float vectors; the rest run their AVX2 code.
    /// (On Zen 5, with full-width 512-bit units, the sparse tiles gained 20–25% (CSR) and 2×
    /// (blocks); the compiler's own vectorisation of the generic tiles gained nothing.)
    Avx512,
    /// x86-64 AVX2 with FMA.
    Avx2Fma,
    /// Plain Rust (vectorised by the compiler for the build's baseline target).
    Portable,
}

impl Isa {
    /// The best one this CPU supports (detected once).
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Isa::Avx512;
                }
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }

    /// Every variant this CPU can run (for tests comparing them).
    pub fn available() -> Vec<Isa> {
        match Isa::detect() {
            Isa::Avx512 => vec![Isa::Portable, Isa::Avx2Fma, Isa::Avx512],
            Isa::Avx2Fma => vec![Isa::Portable, Isa::Avx2Fma],
            Isa::Portable => vec![Isa::Portable],
        }
    }

    /// Whether AVX2 and FMA may be used (both x86 variants).
    pub fn avx2(self) -> bool {
        self != Isa::Portable
    }
}

/// Compressed sparse rows of an M×K matrix. Column indices are stored as the element offset at
/// which that column's activation row starts in X (`k·stride` for a plain row-major X; direct
/// convolutions point each (channel, tap) into the padded input instead), so the kernels
/// index X with one add.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// `row_ptr[i]..row_ptr[i + 1]` index `col` and `val` for row i.
    pub(crate) row_ptr: Vec<u32>,
    /// X offset of each stored value's column, or (when gathered: `pitch` > 0) where that
    /// column's activations start in the gathered buffer.
    pub(crate) col: Vec<u32>,
    pub(crate) val: Vec<f32>,
    /// When gathered, the kernels first copy each tile's activation rows into one contiguous
    /// buffer, `pitch` floats per source row: each source row's X offset and the largest
    /// shift (≤ [`GATHER_SLACK`]) at which a column reads inside it.
    pub(crate) gather: Vec<(u32, u32)>,
    /// Floats per source row of the gathered buffer; 0 when X is read in place.
    pub(crate) pitch: usize,
    /// The largest entry of `col` (0 when there is none): the AVX-512 kernel checks its reads
    /// of X against it once per tile instead of once per non-zero.
    reach: usize,
}

/// The distinct X offsets of `cols` columns, ascending.
fn column_offsets(cols: usize, offset: &dyn Fn(usize) -> u32) -> Vec<u32> {
    let mut at: Vec<u32> = (0..cols).map(offset).collect();
    at.sort_unstable();
    at.dedup();
    at
}

/// The source rows a gathered CSR copies for ascending distinct X offsets (offsets within
/// [`GATHER_SLACK`] floats of a row's first share it): each row's first offset and largest
/// shift, and each offset's row and shift.
#[allow(clippy::type_complexity)]
fn source_rows(offsets: &[u32]) -> (Vec<(u32, u32)>, Vec<(usize, u32)>) {
    let mut rows: Vec<(u32, u32)> = Vec::new();
    let mut at = Vec::with_capacity(offsets.len());
    for &o in offsets {
        match rows.last_mut() {
            Some((start, shift)) if o - *start <= GATHER_SLACK as u32 => *shift = o - *start,
            _ => rows.push((o, 0)),
        }
        at.push((rows.len() - 1, o - rows[rows.len() - 1].0));
    }
    (rows, at)
}

/// Blocked CSR: blocks of [`BLOCK_ROWS`]×1 (rows padded to a multiple of 4 with zero rows).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockCsr {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// Per block row (4 output rows): range into `col` / `val` (4 values per block).
    pub(crate) row_ptr: Vec<u32>,
    /// X offset of each block's column (as in [`Csr`]).
    pub(crate) col: Vec<u32>,
    pub(crate) val: Vec<f32>,
    /// The largest entry of `col` (as in [`Csr`]).
    reach: usize,
}

/// A constant weight matrix in the sparse format that suits it.
#[derive(Debug, Clone, PartialEq)]
pub enum SparseWeights {
    Csr(Csr),
    Block(BlockCsr),
    /// The reduction split into ranges of columns, multiplied one after another (the first as
    /// asked, the rest accumulating) by each task over its rows. Two sizes:
    /// - [`TILE_RANGE_COLS`] for CSR products with many output columns, so that the activation
    ///   rows one 64-column tile reads (128 × 256 bytes) stay in L1 while every output row walks
    ///   its non-zeros, instead of coming from L2 for each non-zero;
    /// - [`CHUNK_COLS`] for a deep reduction with many stored weights, so that one range's
    ///   weights and activation rows stay in L2 across the passes over the output columns
    ///   (resnet18's layer4 at 90%: 1.9 MB of weights over 4608 activation rows, 49 columns).
    Chunked(Vec<SparseWeights>),
}

/// Columns per range of a deep reduction's [`SparseWeights::Chunked`]; reductions up to twice
/// this stay whole.
pub const CHUNK_COLS: usize = 1024;

/// Columns per range of a deep blocked reduction over at most [`SHORT_N`] output columns (CSR
/// ones use [`TILE_RANGE_COLS`]).
pub const SHORT_CHUNK_COLS: usize = 256;

/// Output columns up to which deep reductions use short ranges ([`TILE_RANGE_COLS`] for CSR,
/// [`SHORT_CHUNK_COLS`] for blocks).
pub const SHORT_N: usize = 64;

/// Stored-weight bytes above which a deep reduction is split into ranges (half of a Zen 4
/// core's 1 MiB L2).
pub const CHUNK_MIN_BYTES: usize = 512 * 1024;

/// Columns per range of a CSR product with at least [`TILE_RANGE_MIN_N`] output columns:
/// 128 activation rows of a 64-column tile fill a 32 KiB L1. Measured on conv-shaped products
/// at 70% (`examples/sparse_kernels.rs`), 64–128 were 1.3–2× faster than whole rows, 192
/// less so; blocked CSR (which reads each activation row once per 4 output rows) and products
/// of fewer columns (each range then reloads its outputs for a few non-zeros) got slower.
pub const TILE_RANGE_COLS: usize = 128;

/// Non-zeros per input column (output rows that read each activation row) from which CSR
/// kernels gather each tile's activation rows into a contiguous buffer ([`Csr::gathered`]).
/// Measured on conv-shaped products (`examples/sparse_kernels.rs`): with 64 output rows, at
/// 50% and 70% (32 and 19 readers) 1.5–1.7× faster, at 90% (6) 1.15×, at 95% (3) 10% slower.
pub const GATHER_MIN_REUSE: usize = 5;

/// Columns per gathered source row above which a CSR reads its activations in place: a 3×3
/// convolution's taps share 3 per row at stride 1 and 1.5 at stride 2 (both read in place; the
/// stride-2 layers of resnet18 at 2:4 measured 1.46–1.49 ms so against 1.83–1.89 gathered, on a
/// noisy VM).
pub const GATHER_MAX_SHARING: f64 = 1.4;

/// Columns per range of a CSR product over many output columns that reads its activations in
/// place (a convolution's taps in padded planes). Measured with `examples/sparse_kernels.rs`
/// (`CONV=64,56`, `128,28`, `256,14`): 192 against 128 was 1–2% faster at 50%, 3–4% at 70%, 9%
/// at 90%; 288 and more were slower at 50%.
pub const INPLACE_RANGE_COLS: usize = 192;

/// Floats by which the X offsets of columns sharing one gathered source row may differ.
pub const GATHER_SLACK: usize = 8;

/// Output columns from which CSR products are split into [`TILE_RANGE_COLS`] ranges.
pub const TILE_RANGE_MIN_N: usize = 128;

impl Csr {
    /// From a dense row-major `rows × cols` matrix, keeping the non-zeros; column c's
    /// activations start at `offset(c)` in X.
    pub fn from_dense(w: &[f32], rows: usize, cols: usize, offset: &dyn Fn(usize) -> u32) -> Csr {
        let (row_ptr, col, val) = compress(w, rows, cols, 1, offset);
        let reach = col.iter().copied().max().unwrap_or(0) as usize;
        Csr {
            rows,
            cols,
            row_ptr,
            col,
            val,
            gather: Vec::new(),
            pitch: 0,
            reach,
        }
    }

    /// Like [`Csr::from_dense`], but the kernels copy each tile's activation rows (column c's
    /// at `offset(c)`, `n` columns) into one contiguous buffer before the output rows walk
    /// their non-zeros. Read in place, rows `n` floats apart map to few L1 sets and evict each
    /// other (and the outputs, with the same stride) long before the tile is done with them.
    /// Columns whose offsets lie within [`GATHER_SLACK`] floats of each other (a convolution's
    /// taps along a row, read from a padded plane) share one source row, copied once.
    pub fn gathered(
        w: &[f32],
        rows: usize,
        cols: usize,
        n: usize,
        offset: &dyn Fn(usize) -> u32,
    ) -> Csr {
        let mut csr = Csr::from_dense(w, rows, cols, offset);
        // Every column, read or not: runs of consecutive columns let a transposing copy
        // (`pack_t`) move 8×8 blocks.
        let used = column_offsets(cols, offset);
        let (gather, at) = source_rows(&used);
        // Room for the widest tile and the largest shift, kept a multiple of 8 floats.
        let slack = gather.iter().map(|g| g.1 as usize).max().unwrap_or(0);
        csr.pitch = n.min(64).next_multiple_of(8) + slack.next_multiple_of(8);
        csr.gather = gather;
        let at: Vec<u32> = at
            .into_iter()
            .map(|(row, shift)| (row * csr.pitch) as u32 + shift)
            .collect();
        for c in &mut csr.col {
            *c = at[used.binary_search(c).expect("offset of a stored value")];
        }
        csr.reach = csr.col.iter().copied().max().unwrap_or(0) as usize;
        csr
    }
}

impl BlockCsr {
    /// From a dense row-major matrix: a block is stored when any of its 4 values is non-zero.
    pub fn from_dense(
        w: &[f32],
        rows: usize,
        cols: usize,
        offset: &dyn Fn(usize) -> u32,
    ) -> BlockCsr {
        let (row_ptr, col, val) = compress(w, rows, cols, BLOCK_ROWS, offset);
        let reach = col.iter().copied().max().unwrap_or(0) as usize;
        BlockCsr {
            rows,
            cols,
            row_ptr,
            col,
            val,
            reach,
        }
    }
}

/// Row pointers, column offsets and values of the `block`×1 blocks of a dense row-major matrix
/// that hold a non-zero (rows padded with zeros to a multiple of `block`; `block` 1 is CSR).
#[allow(clippy::type_complexity)]
fn compress(
    w: &[f32],
    rows: usize,
    cols: usize,
    block: usize,
    offset: &dyn Fn(usize) -> u32,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    assert_eq!(w.len(), rows * cols);
    let brows = rows.div_ceil(block);
    let mut row_ptr = Vec::with_capacity(brows + 1);
    let (mut col, mut val) = (Vec::new(), Vec::new());
    row_ptr.push(0u32);
    let at = |r: usize, c: usize| if r < rows { w[r * cols + c] } else { 0.0 };
    for b in 0..brows {
        for c in 0..cols {
            if (0..block).any(|i| at(b * block + i, c) != 0.0) {
                col.push(offset(c));
                val.extend((0..block).map(|i| at(b * block + i, c)));
            }
        }
        row_ptr.push(col.len() as u32);
    }
    (row_ptr, col, val)
}

impl SparseWeights {
    /// Compresses a dense row-major `rows × cols` weight that multiplies a row-major X of
    /// `n` columns (rows `n` apart); in the blocked format when its zeros come in 4×1 blocks
    /// (≥ 80% of stored blocks full), otherwise CSR, in column ranges where they pay.
    pub fn from_dense(w: &[f32], rows: usize, cols: usize, n: usize) -> SparseWeights {
        SparseWeights::from_dense_at(w, rows, cols, n, &|c| (c * n) as u32)
    }

    /// Like [`SparseWeights::from_dense`], for [`SparseWeights::matmul_t`]: CSR is always
    /// gathered (when n > [`GATHER_SLACK`]), so that the gathering copies read the activations
    /// untransposed.
    pub fn for_matmul_t(w: &[f32], rows: usize, cols: usize, n: usize) -> SparseWeights {
        SparseWeights::build(w, rows, cols, n, &|c| (c * n) as u32, true)
    }

    /// Like [`SparseWeights::from_dense`] with any column → X offset mapping; `n` is the
    /// product's column count (it decides the column ranges, not the layout).
    pub fn from_dense_at(
        w: &[f32],
        rows: usize,
        cols: usize,
        n: usize,
        offset: &dyn Fn(usize) -> u32,
    ) -> SparseWeights {
        SparseWeights::build(w, rows, cols, n, offset, false)
    }

    /// [`SparseWeights::from_dense_at`], gathering every CSR part when `gather_all`.
    fn build(
        w: &[f32],
        rows: usize,
        cols: usize,
        n: usize,
        offset: &dyn Fn(usize) -> u32,
        gather_all: bool,
    ) -> SparseWeights {
        let nnz = w.iter().filter(|&&v| v != 0.0).count();
        let block = (rows >= BLOCK_ROWS && nnz > 0)
            .then(|| BlockCsr::from_dense(w, rows, cols, offset))
            .filter(|b| nnz as f64 >= 0.8 * b.val.len() as f64);
        // CSR gathers its activation rows when they lie far apart (an im2col, transposed Gemm
        // activations) and each is read by enough output rows; where columns read overlapping
        // rows (a 3×3 convolution's taps along a padded row) they already form a compact region
        // in place: gathering those was 0–10% slower (`examples/sparse_kernels.rs`, `CONV=`).
        let shared = || {
            let rows = source_rows(&column_offsets(cols, offset)).0.len();
            cols as f64 > GATHER_MAX_SHARING * rows as f64
        };
        let gather = block.is_none()
            && match gather_all {
                true => n > GATHER_SLACK,
                false => n >= 8 && nnz >= GATHER_MIN_REUSE * cols && !shared(),
            };
        // Ranges that keep a tile's activation rows in L1 (CSR over many output columns), or
        // that keep the stored weights (8 bytes each with their offsets) in L2 beside the
        // activations between passes over the output columns.
        // Gathered ranges hold about 32 non-zeros per row or more: each range reloads and
        // stores its rows' outputs, which a few non-zeros do not repay (a 90%-sparse MLP at
        // batch 256, 13 per row in 128 columns: 256 columns 15% faster; resnet18 at 90% level,
        // at 70% 4% slower).
        let density = nnz as f64 / (rows * cols).max(1) as f64;
        let long = ((32.0 / density.max(1e-3)) as usize).next_multiple_of(64);
        let tile_range = match gather {
            true => long.clamp(TILE_RANGE_COLS, 2 * TILE_RANGE_COLS),
            false => INPLACE_RANGE_COLS,
        };
        let range =
            if block.is_none() && (gather || n >= TILE_RANGE_MIN_N) && cols >= 2 * tile_range {
                Some(tile_range)
            } else if block.is_some() && density >= 0.3 && cols >= 2 * SHORT_CHUNK_COLS {
                // Dense enough blocks (2:4 shared by 4 rows, 50% blocks) over a shallower
                // reduction: a 16-column strip's activation rows of a whole 576-deep reduction
                // (36 KiB) left L1 between row blocks, 256 of them (16 KiB) stay (Zen 1 VM:
                // resnet18's layer1 at 50% 4.9 → 4.4 ms, the model 83.4 → 80.6 ms; 90% blocks
                // are left as they were).
                Some(SHORT_CHUNK_COLS)
            } else if cols > 2 * CHUNK_COLS && nnz * 8 > CHUNK_MIN_BYTES {
                // One column tile (n ≤ 64) reads each range's activation rows once per output
                // row: narrower ranges keep them in L1 (CSR, 128 rows of 56 columns: 28 KiB) or L2
                // (blocks, which read each row once per 4 output rows). 512×4608×56: CSR at 50%
                // 3.33 → 2.41 ms (256 → 128 columns), at 70% 1.96 → 1.47 ms (1024 → 128); blocks
                // at 90% 0.42 ms at 128 columns, 0.34 at 256.
                Some(match (n <= SHORT_N, block.is_some()) {
                    (true, false) => TILE_RANGE_COLS,
                    (true, true) => SHORT_CHUNK_COLS,
                    (false, _) => CHUNK_COLS,
                })
            } else {
                None
            };
        if let Some(width) = range {
            let mut parts = Vec::new();
            for c0 in (0..cols).step_by(width) {
                let c1 = (c0 + width).min(cols);
                let sub: Vec<f32> = w
                    .chunks(cols)
                    .flat_map(|row| &row[c0..c1])
                    .copied()
                    .collect();
                // A range may itself split (finer): its parts join this list, one level deep.
                let at = |c| offset(c0 + c);
                match SparseWeights::build(&sub, rows, c1 - c0, n, &at, gather_all) {
                    SparseWeights::Chunked(p) => parts.extend(p),
                    part => parts.push(part),
                }
            }
            return SparseWeights::Chunked(parts);
        }
        match block {
            Some(b) => SparseWeights::Block(b),
            None if gather => SparseWeights::Csr(Csr::gathered(w, rows, cols, n, offset)),
            None => SparseWeights::Csr(Csr::from_dense(w, rows, cols, offset)),
        }
    }

    /// The largest X offset a stored value reads from (+ n columns must fit X).
    fn max_offset(&self) -> usize {
        let col = match self {
            SparseWeights::Csr(c) if c.pitch > 0 => {
                return c
                    .gather
                    .iter()
                    .map(|&(o, e)| (o + e) as usize)
                    .max()
                    .unwrap_or(0)
            }
            SparseWeights::Csr(c) => &c.col,
            SparseWeights::Block(b) => &b.col,
            SparseWeights::Chunked(p) => return p.iter().map(Self::max_offset).max().unwrap_or(0),
        };
        col.iter().copied().max().unwrap_or(0) as usize
    }

    /// Whether this part copies its activation rows before multiplying ([`Csr::gathered`]).
    fn is_gathered(&self) -> bool {
        matches!(self, SparseWeights::Csr(c) if c.pitch > 0)
    }

    /// Output rows.
    pub fn rows(&self) -> usize {
        match self {
            SparseWeights::Csr(c) => c.rows,
            SparseWeights::Block(b) => b.rows,
            SparseWeights::Chunked(p) => p.first().map_or(0, Self::rows),
        }
    }

    /// Input columns.
    pub fn cols(&self) -> usize {
        match self {
            SparseWeights::Csr(c) => c.cols,
            SparseWeights::Block(b) => b.cols,
            SparseWeights::Chunked(p) => p.iter().map(Self::cols).sum(),
        }
    }

    /// Stored values (including the zeros of partly filled blocks).
    pub fn stored(&self) -> usize {
        match self {
            SparseWeights::Csr(c) => c.val.len(),
            SparseWeights::Block(b) => b.val.len(),
            SparseWeights::Chunked(p) => p.iter().map(Self::stored).sum(),
        }
    }

    /// The format's name, for reports.
    pub fn format(&self) -> &'static str {
        match self {
            SparseWeights::Csr(_) => "csr",
            SparseWeights::Block(_) => "block4x1",
            SparseWeights::Chunked(p) => match p.iter().all(|p| p.format() == "block4x1") {
                true => "block4x1 in column ranges",
                false => "csr in column ranges",
            },
        }
    }

    /// `y (M×n) = W × X`, plus `y`'s previous contents when `accumulate`; X's rows start at
    /// the offsets the weights were built with, each n long. Parallel over output rows when
    /// `threads > 1`.
    pub fn matmul(&self, x: &[f32], n: usize, y: &mut [f32], accumulate: bool, threads: usize) {
        self.matmul_isa(x, n, y, accumulate, threads, Isa::detect())
    }

    /// [`SparseWeights::matmul`] with a chosen instruction set (tests compare them).
    pub fn matmul_isa(
        &self,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        accumulate: bool,
        threads: usize,
        isa: Isa,
    ) {
        self.matmul_x(x, n, y, accumulate, threads, isa, 0)
    }

    /// [`SparseWeights::matmul_isa`] where, when `x_t` > 0, X arrives transposed: column c's
    /// activation t at `x[t·x_t + c]` (every part must then be a gathered CSR, whose offsets
    /// are c·n: the gathering copy transposes).
    #[allow(clippy::too_many_arguments)]
    fn matmul_x(
        &self,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        accumulate: bool,
        threads: usize,
        isa: Isa,
        x_t: usize,
    ) {
        let m = self.rows();
        // Debug builds only: the scan over every stored offset cost 2.5% of a 90%-sparse
        // resnet18, and the kernels' slicing of X is bounds-checked in any build.
        debug_assert!(
            self.stored() == 0
                || x.len()
                    >= match x_t {
                        0 => self.max_offset() + n,
                        _ => n * x_t,
                    },
            "activation too small"
        );
        assert!(y.len() >= m * n, "output too small");
        if m == 0 || n == 0 {
            return;
        }
        // The matrix as ranges of columns (one when it is not split), each run over a task's
        // rows in turn: one parallel section, and a range's data stays in cache for it.
        let parts = match self {
            SparseWeights::Chunked(p) => &p[..],
            whole => std::slice::from_ref(whole),
        };
        // Rows handled per task: whole blocks, about 4 tasks per thread, or one per thread when
        // the activations are gathered (each task copies every tile it multiplies: with 8 tasks
        // a 90%-sparse MLP at 2 threads took twice as long as with one thread).
        let unit = match parts.iter().any(|p| matches!(p, SparseWeights::Block(_))) {
            true => BLOCK_ROWS,
            false => 1,
        };
        let tasks = match parts.iter().any(SparseWeights::is_gathered) {
            true => threads,
            false => 4 * threads,
        };
        let per = if threads > 1 {
            (m.div_ceil(tasks)).div_ceil(unit).max(1) * unit
        } else {
            m
        };
        let y = &mut y[..m * n];
        let run = |(t, ys): (usize, &mut [f32])| {
            let r0 = t * per;
            let r1 = (r0 + per).min(m);
            for (i, p) in parts.iter().enumerate() {
                isa.run(p, x, x_t, n, ys, r0, r1, accumulate || i > 0);
            }
        };
        if threads > 1 && m > per {
            crate::pool::chunks_mut(y, per * n, |t, ys| run((t, ys)));
        } else {
            y.chunks_mut(per * n).enumerate().for_each(run);
        }
    }
}

/// Whether lowerings may use sparse kernels for constant weights with zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SparseMode {
    /// Each layer sparse enough to possibly gain is timed both ways at load; the faster wins,
    /// so a model never gets slower (outputs may differ in the last bits between the two).
    #[default]
    Auto,
    /// Dense kernels only.
    Off,
    /// Sparse kernels for every layer at or below [`MAX_DENSITY`] (for benchmarks and tests).
    On,
}

/// Layers with a larger fraction of non-zero weights stay dense: measured here, CSR needs about
/// 30% zeros before it can match dense GEMM.
pub const MAX_DENSITY: f64 = 0.75;

/// What a layer chose, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseChoice {
    /// Fraction of weights that are non-zero.
    pub density: f64,
    /// `Some(format)` when the sparse kernel runs, `None` when dense stayed.
    pub format: Option<&'static str>,
    /// Measured at load (Auto): dense and sparse milliseconds.
    pub timed_ms: Option<(f64, f64)>,
}

/// Fraction of non-zero values.
pub fn density(w: &[f32]) -> f64 {
    if w.is_empty() {
        return 1.0;
    }
    w.iter().filter(|&&v| v != 0.0).count() as f64 / w.len() as f64
}

/// Times `dense` and `sparse` alternately (one warm-up each, then the best of three, or of one
/// when a run takes over 20 ms) and returns their best milliseconds.
pub fn race(mut dense: impl FnMut(), mut sparse: impl FnMut()) -> (f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e3
    };
    let first = time(&mut dense);
    time(&mut sparse);
    let rounds = if first > 20.0 { 1 } else { 3 };
    let (mut d, mut s) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        d = d.min(time(&mut dense));
        s = s.min(time(&mut sparse));
    }
    (d, s)
}

/// Whether a layer with this weight density gets a sparse variant built at all.
pub fn candidate(mode: SparseMode, density: f64) -> bool {
    mode != SparseMode::Off && density <= MAX_DENSITY
}

/// Settles a layer that has a sparse variant: `run(true)` runs it sparse and `run(false)` dense
/// on a probe input. Auto races them; On keeps sparse.
pub fn settle(
    mode: SparseMode,
    density: f64,
    format: &'static str,
    mut run: impl FnMut(bool),
) -> SparseChoice {
    match mode {
        SparseMode::Auto => {
            let (d, s) = {
                let run = std::cell::RefCell::new(&mut run);
                race(|| (run.borrow_mut())(false), || (run.borrow_mut())(true))
            };
            SparseChoice {
                density,
                format: (s < d).then_some(format),
                timed_ms: Some((d, s)),
            }
        }
        _ => SparseChoice {
            density,
            format: Some(format),
            timed_ms: None,
        },
    }
}

/// A deterministic pseudo-random activation for timing races.
pub fn probe_input(len: usize) -> Vec<f32> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

impl SparseWeights {
    /// `y (m×N) = a (m×K, row-major) × Wᵀ (+ init)`, where this matrix holds the N×K
    /// transpose of the right-hand operand (Gemm/MatMul with a sparse constant B), built with
    /// stride m, and `init_t` (if any) is the N×m transpose of what to add; `epi` (if any)
    /// then adds its bias (one per output column) and clamps, as Y is stored. Activations are
    /// transposed so that the sparse rows stream over contiguous memory.
    pub fn matmul_t(
        &self,
        a: &[f32],
        m: usize,
        init_t: Option<&[f32]>,
        epi: Option<&Epilogue>,
        y: &mut [f32],
        threads: usize,
    ) {
        let (nn, k) = (self.rows(), self.cols());
        assert!(a.len() >= m * k && y.len() >= m * nn);
        if m == 1 {
            if let Some(c) = init_t {
                y[..nn].copy_from_slice(&c[..nn]);
            }
            self.matmul(a, 1, y, init_t.is_some(), threads);
            finish(&mut y[..nn], epi, 0);
            return;
        }
        // The transpose of Y and the product (started from C or not) write every element.
        let mut yt = crate::buffers::take(nn * m);
        if let Some(c) = init_t {
            yt.copy_from_slice(&c[..nn * m]);
        }
        let all_gathered = match self {
            SparseWeights::Chunked(p) => p.iter().all(SparseWeights::is_gathered),
            whole => whole.is_gathered(),
        };
        if all_gathered && m > GATHER_SLACK {
            // Each tile's gathering copy transposes A's columns itself: no transposed copy of A
            // (with the `memcpy`s of the copy, a third of a 90%-sparse MLP's time).
            let isa = Isa::detect();
            self.matmul_x(a, m, &mut yt, init_t.is_some(), threads, isa, k);
        } else {
            let mut xt = crate::buffers::take(k * m);
            transpose(&a[..m * k], m, k, &mut xt);
            self.matmul(&xt, m, &mut yt, init_t.is_some(), threads);
            crate::buffers::recycle(xt);
        }
        transpose_epi(&yt, m, nn, m, &mut y[..m * nn], Isa::detect(), epi);
        crate::buffers::recycle(yt);
    }
}

/// `dst (cols×rows) = srcᵀ` for a row-major `rows × cols` source: 8×8 tiles through a
/// register-sized buffer, edges element by element.
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    transpose_isa(src, rows, cols, dst, Isa::detect())
}

/// [`transpose`] with a chosen instruction set.
pub fn transpose_isa(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], isa: Isa) {
    transpose_ld(src, cols, rows, cols, dst, isa)
}

/// [`transpose_isa`] of the `rows × cols` block whose rows start `ld` floats apart in `src`
/// (columns of a wider matrix): `dst[j·rows + i] = src[i·ld + j]`.
pub fn transpose_ld(src: &[f32], ld: usize, rows: usize, cols: usize, dst: &mut [f32], isa: Isa) {
    transpose_epi(src, ld, rows, cols, dst, isa, None)
}

/// [`transpose_ld`] that also adds `bias[i]` to, and clamps, every value of source row i as it
/// stores it (`epi`): the epilogue of a product computed transposed, in the same pass.
pub fn transpose_epi(
    src: &[f32],
    ld: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    isa: Isa,
    epi: Option<&Epilogue>,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(ld >= cols && src.len() >= (rows - 1) * ld + cols && dst.len() >= rows * cols);
    assert!(
        epi.and_then(|e| e.bias).is_none_or(|b| b.len() >= rows),
        "bias too short"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the x86 `Isa`s come from `Isa::detect`, which found AVX2 and FMA; the
        // function is otherwise safe Rust.
        isa if isa.avx2() => unsafe { avx2::transpose(src, ld, rows, cols, dst, epi) },
        _ => transpose_body::<false>(src, ld, rows, cols, dst, epi),
    }
}

/// Element by element, the transpose (and epilogue) of source rows `is` × columns `js`: the
/// edges that the 8×8 blocks leave.
#[inline(always)]
fn edge(
    src: &[f32],
    ld: usize,
    rows: usize,
    dst: &mut [f32],
    epi: Option<&Epilogue>,
    is: std::ops::Range<usize>,
    js: std::ops::Range<usize>,
) {
    for i in is {
        for j in js.clone() {
            dst[j * rows + i] = src[i * ld + j];
            finish(&mut dst[j * rows + i..][..1], epi, i);
        }
    }
}

/// `clamp(v + bias[i])` over `d`, value q taking bias `i0 + q` (none without `epi`).
#[inline(always)]
fn finish(d: &mut [f32], epi: Option<&Epilogue>, i0: usize) {
    if let Some(e) = epi {
        match e.bias {
            Some(b) => {
                for (v, b) in d.iter_mut().zip(&b[i0..]) {
                    *v = (*v + b).max(e.lo).min(e.hi);
                }
            }
            None => {
                for v in d {
                    *v = v.max(e.lo).min(e.hi);
                }
            }
        }
    }
}

/// The 8 floats at `at`, `at + stride`, … `at + 7·stride` (an 8×8 block for [`transpose8`]).
/// Spelled out: an array built by a closure (`map`, `from_fn`) may be compiled out of line from
/// the `#[target_feature]` code that calls this (7% of a sparse MLP).
#[inline(always)]
pub(crate) fn rows8(src: &[f32], at: usize, stride: usize) -> [&[f32; 8]; 8] {
    // One bounds check for all eight: the rows lie within `span`, each starting at i·stride.
    let span = &src[at..at + 7 * stride + 8];
    #[inline(always)]
    fn eight(span: &[f32], i: usize, stride: usize) -> &[f32; 8] {
        debug_assert!(i * stride + 8 <= span.len());
        // SAFETY: span.len() = 7·stride + 8 and i ≤ 7 (the calls below), so the 8 floats at
        // i·stride lie within it.
        unsafe { &*span.as_ptr().add(i * stride).cast::<[f32; 8]>() }
    }
    [
        eight(span, 0, stride),
        eight(span, 1, stride),
        eight(span, 2, stride),
        eight(span, 3, stride),
        eight(span, 4, stride),
        eight(span, 5, stride),
        eight(span, 6, stride),
        eight(span, 7, stride),
    ]
}

/// The loop of [`transpose_isa`], compiled inside the AVX2 function when `F` (so that the
/// 8×8 register transposes inline: called one by one from plain code they were a third of a
/// 90%-sparse MLP's time).
#[inline(always)]
fn transpose_body<const F: bool>(
    src: &[f32],
    ld: usize,
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    epi: Option<&Epilogue>,
) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    let mut i0 = 0;
    while i0 < r8 {
        // Sixteen source rows at a time where there are: each destination row then gets 16
        // floats (a whole cache line) per write instead of two halves far apart in time.
        let h = if i0 + 16 <= r8 { 16 } else { 8 };
        for j0 in (0..c8).step_by(8) {
            let mut out = [[0f32; 8]; 8];
            transpose8::<F>(&rows8(src, i0 * ld + j0, ld), &mut out);
            if h == 16 {
                let mut low = [[0f32; 8]; 8];
                transpose8::<F>(&rows8(src, (i0 + 8) * ld + j0, ld), &mut low);
                for j in 0..8 {
                    let d = &mut dst[(j0 + j) * rows + i0..][..16];
                    d[..8].copy_from_slice(&out[j]);
                    d[8..].copy_from_slice(&low[j]);
                    finish(d, epi, i0);
                }
            } else {
                for (j, o) in out.iter().enumerate() {
                    let d = &mut dst[(j0 + j) * rows + i0..][..8];
                    d.copy_from_slice(o);
                    finish(d, epi, i0);
                }
            }
        }
        edge(src, ld, rows, dst, epi, i0..i0 + h, c8..cols);
        i0 += h;
    }
    edge(src, ld, rows, dst, epi, r8..rows, 0..cols);
}

impl Isa {
    #[allow(clippy::too_many_arguments)]
    fn run(
        self,
        w: &SparseWeights,
        x: &[f32],
        x_t: usize,
        n: usize,
        y: &mut [f32],
        r0: usize,
        r1: usize,
        acc: bool,
    ) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // SAFETY: `Isa::Avx512` is only produced by `Isa::detect`, after the CPU was
                // found to support AVX-512F, AVX2 and FMA; the function is otherwise safe Rust.
                unsafe { avx512::rows(w, x, x_t, n, y, r0, r1, acc) }
            }
            #[cfg(target_arch = "x86_64")]
            isa if isa.avx2() => {
                // SAFETY: the x86 `Isa`s are only produced by `Isa::detect`, after the CPU was
                // found to support AVX2 and FMA; the function is otherwise safe Rust.
                unsafe { avx2::rows(w, x, x_t, n, y, r0, r1, acc) }
            }
            _ => rows::<false, false>(w, x, x_t, n, y, r0, r1, acc),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rows(
        w: &SparseWeights,
        x: &[f32],
        x_t: usize,
        n: usize,
        y: &mut [f32],
        r0: usize,
        r1: usize,
        acc: bool,
    ) {
        super::rows::<true, true>(w, x, x_t, n, y, r0, r1, acc)
    }

    /// `V` vectors of 16 floats at `p`: the last masked to `mask` when `TAIL`.
    macro_rules! load {
        ($p:expr, $mask:expr) => {{
            let p = $p;
            let mut v = [_mm512_setzero_ps(); V];
            for (q, vq) in v.iter_mut().enumerate() {
                *vq = match TAIL && q == V - 1 {
                    true => _mm512_maskz_loadu_ps($mask, p.add(16 * q)),
                    false => _mm512_loadu_ps(p.add(16 * q)),
                };
            }
            v
        }};
    }

    /// Stores `V` vectors at `o` (the last masked when `TAIL`).
    macro_rules! store {
        ($o:expr, $a:expr, $mask:expr) => {{
            let o = $o;
            for (q, aq) in $a.iter().enumerate() {
                match TAIL && q == V - 1 {
                    true => _mm512_mask_storeu_ps(o.add(16 * q), $mask, *aq),
                    false => _mm512_storeu_ps(o.add(16 * q), *aq),
                }
            }
        }};
    }

    /// One non-zero's products into a row's accumulators: `v` times the activations at `p`
    /// (no check: see [`csr_tile`]).
    macro_rules! step {
        ($a:ident, $p:expr, $v:expr, $mask:expr) => {{
            let v = _mm512_set1_ps($v);
            let p = $p;
            for (q, aq) in $a.iter_mut().enumerate() {
                let xq = match TAIL && q == V - 1 {
                    true => _mm512_maskz_loadu_ps($mask, p.add(16 * q)),
                    false => _mm512_loadu_ps(p.add(16 * q)),
                };
                *aq = _mm512_fmadd_ps(v, xq, *aq);
            }
        }};
    }

    /// The mask of the last of `V` vectors over `width` columns.
    fn tail_mask<const V: usize>(width: usize) -> u16 {
        let live = width - 16 * (V - 1);
        if live >= 16 {
            u16::MAX
        } else {
            (1u16 << live) - 1
        }
    }

    /// A CSR tile of `width` ≤ 64 columns (`j..j + width` of rows `r0..r1`, X read from
    /// `x + xj`) on `V` = ⌈width/16⌉ vectors, the last one masked when `TAIL` (so a 7×7 layer's
    /// 63 columns are one tile, not 56 + 7 single columns), two output rows at a time: each
    /// row's accumulators take its non-zeros in order (the same sums as the AVX2 and portable
    /// tiles, bit for bit), and two rows' chains overlap the FMA latency that one row's would
    /// leave exposed. X's reads are checked once, against the largest stored offset, instead
    /// of per non-zero. (Bound by its loads of X, one vector per FMA: sharing them between the
    /// two rows, as a wrong but telling experiment, ran 1.7× faster.)
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn csr_tile<const V: usize, const TAIL: bool>(
        c: &Csr,
        x: &[f32],
        xj: usize,
        n: usize,
        y: &mut [f32],
        (r0, r1): (usize, usize),
        j: usize,
        width: usize,
        acc: bool,
    ) {
        assert!(
            width.div_ceil(16) == V && width.is_multiple_of(16) != TAIL,
            "tile shape"
        );
        if r1 <= r0 {
            return;
        }
        assert!(
            c.val.is_empty() || c.reach + xj + width <= x.len(),
            "activation too small"
        );
        assert!((r1 - 1 - r0) * n + j + width <= y.len(), "output too small");
        let mask = tail_mask::<V>(width);
        let xp = x.as_ptr().wrapping_add(xj);
        let yp = y.as_mut_ptr();
        let nz = |r: usize| {
            let (s, e) = (c.row_ptr[r] as usize, c.row_ptr[r + 1] as usize);
            (&c.col[s..e], &c.val[s..e])
        };
        let out = |r: usize| yp.wrapping_add((r - r0) * n + j);
        // SAFETY: every X read is at xj + k + (0..width), k ≤ reach, inside x (asserted; the
        // masked lanes past width are not read); every output row read or written,
        // (r - r0)·n + j + (0..width) for r < r1, lies inside y (asserted); `col` and `val`
        // are indexed below the shorter row's length.
        unsafe {
            let zero = [_mm512_setzero_ps(); V];
            let mut r = r0;
            while r + 1 < r1 {
                let ((k0, v0), (k1, v1)) = (nz(r), nz(r + 1));
                let (mut a0, mut a1) = match acc {
                    true => (load!(out(r), mask), load!(out(r + 1), mask)),
                    false => (zero, zero),
                };
                let both = k0.len().min(k1.len());
                for i in 0..both {
                    step!(
                        a0,
                        xp.add(*k0.get_unchecked(i) as usize),
                        *v0.get_unchecked(i),
                        mask
                    );
                    step!(
                        a1,
                        xp.add(*k1.get_unchecked(i) as usize),
                        *v1.get_unchecked(i),
                        mask
                    );
                }
                for (&k, &v) in k0[both..].iter().zip(&v0[both..]) {
                    step!(a0, xp.add(k as usize), v, mask);
                }
                for (&k, &v) in k1[both..].iter().zip(&v1[both..]) {
                    step!(a1, xp.add(k as usize), v, mask);
                }
                store!(out(r), a0, mask);
                store!(out(r + 1), a1, mask);
                r += 2;
            }
            if r < r1 {
                let (k0, v0) = nz(r);
                let mut a0 = match acc {
                    true => load!(out(r), mask),
                    false => zero,
                };
                for (&k, &v) in k0.iter().zip(v0) {
                    step!(a0, xp.add(k as usize), v, mask);
                }
                store!(out(r), a0, mask);
            }
        }
    }

    /// A blocked tile of `width` ≤ 64 columns (`j..j + width` of rows `r0..r1`, r0 a multiple
    /// of 4) on `V` vectors as in [`csr_tile`]: a block row's 4 × V accumulators take its
    /// blocks in order (the sums of the portable tile), 4·V FMA chains from V loads of X and
    /// four broadcasts per block.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn block_tile<const V: usize, const TAIL: bool>(
        b: &BlockCsr,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        (r0, r1): (usize, usize),
        j: usize,
        width: usize,
        acc: bool,
    ) {
        const R: usize = BLOCK_ROWS;
        assert!(
            width.div_ceil(16) == V && width.is_multiple_of(16) != TAIL,
            "tile shape"
        );
        if r1 <= r0 {
            return;
        }
        assert!(r0.is_multiple_of(R), "block rows start on a block");
        assert!(
            b.val.is_empty() || b.reach + j + width <= x.len(),
            "activation too small"
        );
        assert!((r1 - 1 - r0) * n + j + width <= y.len(), "output too small");
        let mask = tail_mask::<V>(width);
        let xp = x.as_ptr().wrapping_add(j);
        let yp = y.as_mut_ptr();
        let out = |r: usize| yp.wrapping_add((r - r0) * n + j);
        let mut r = r0;
        while r < r1 {
            let live = R.min(r1 - r);
            let br = r / R;
            let (s, e) = (b.row_ptr[br] as usize, b.row_ptr[br + 1] as usize);
            let (cols, vals) = (&b.col[s..e], &b.val[s * R..e * R]);
            // SAFETY: X reads at j + k + (0..width), k ≤ reach, lie inside x; output rows
            // (r - r0 + i)·n + j + (0..width) for the live rows (r + i < r1) lie inside y (both
            // asserted; masked lanes are not touched); `vals` holds R values per block.
            unsafe {
                let mut a = [[_mm512_setzero_ps(); V]; R];
                if acc {
                    for (i, ai) in a.iter_mut().enumerate().take(live) {
                        *ai = load!(out(r + i), mask);
                    }
                }
                for (bi, &k) in cols.iter().enumerate() {
                    let xs = load!(xp.add(k as usize), mask);
                    let v = vals.as_ptr().add(bi * R);
                    for (i, ai) in a.iter_mut().enumerate() {
                        let vi = _mm512_set1_ps(*v.add(i));
                        for (aq, xq) in ai.iter_mut().zip(&xs) {
                            *aq = _mm512_fmadd_ps(vi, *xq, *aq);
                        }
                    }
                }
                for (i, ai) in a.iter().enumerate().take(live) {
                    store!(out(r + i), ai, mask);
                }
            }
            r += R;
        }
    }

    /// Columns `j..j + width` (width ≤ 64) of rows `r0..r1` of one part, on the tile that fits.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tile(
        w: &SparseWeights,
        x: &[f32],
        packed: &[f32],
        n: usize,
        y: &mut [f32],
        rows: (usize, usize),
        j: usize,
        width: usize,
        acc: bool,
    ) {
        macro_rules! pick {
            ($f:ident, $($arg:expr),*) => {
                match (width.div_ceil(16), !width.is_multiple_of(16)) {
                    (4, false) => $f::<4, false>($($arg),*),
                    (4, true) => $f::<4, true>($($arg),*),
                    (3, false) => $f::<3, false>($($arg),*),
                    (3, true) => $f::<3, true>($($arg),*),
                    (2, false) => $f::<2, false>($($arg),*),
                    (2, true) => $f::<2, true>($($arg),*),
                    (1, false) => $f::<1, false>($($arg),*),
                    _ => $f::<1, true>($($arg),*),
                }
            };
        }
        match w {
            SparseWeights::Csr(c) => {
                // Gathered: each column reads the packed tile at its stored position.
                let (x, xj) = match c.pitch {
                    0 => (x, j),
                    _ => (packed, 0),
                };
                pick!(csr_tile, c, x, xj, n, y, rows, j, width, acc)
            }
            SparseWeights::Block(b) => pick!(block_tile, b, x, n, y, rows, j, width, acc),
            SparseWeights::Chunked(_) => unreachable!("column ranges reach the tiles one by one"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rows(
        w: &SparseWeights,
        x: &[f32],
        x_t: usize,
        n: usize,
        y: &mut [f32],
        r0: usize,
        r1: usize,
        acc: bool,
    ) {
        super::rows::<true, false>(w, x, x_t, n, y, r0, r1, acc)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn transpose(
        src: &[f32],
        ld: usize,
        rows: usize,
        cols: usize,
        dst: &mut [f32],
        epi: Option<&Epilogue>,
    ) {
        use std::arch::x86_64::*;
        let Some(e) = epi else {
            return super::transpose_body::<true>(src, ld, rows, cols, dst, None);
        };
        // With an epilogue, each 8×8 block is finished in registers before it is stored (a
        // second pass over the stored rows, with `f32::max`'s NaN handling, was half of the
        // transpose's time): `max(v, lo)` gives lo for a NaN v, as `Post::clamp` does.
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        let (lo, hi) = (_mm256_set1_ps(e.lo), _mm256_set1_ps(e.hi));
        let bias = |i: usize| match e.bias {
            // SAFETY: the caller checked that the bias holds `rows` values, and i + 8 ≤ r8.
            Some(b) => unsafe { _mm256_loadu_ps(b[i..i + 8].as_ptr()) },
            None => _mm256_setzero_ps(),
        };
        let done = |v: __m256, b: __m256| _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, b), lo), hi);
        let mut i0 = 0;
        while i0 < r8 {
            // Sixteen source rows where there are, for whole-line stores (as `transpose_body`).
            let h = if i0 + 16 <= r8 { 16 } else { 8 };
            let (b0, b1) = (bias(i0), if h == 16 { bias(i0 + 8) } else { bias(i0) });
            for j0 in (0..c8).step_by(8) {
                let v = super::transpose8_load(&rows8(src, i0 * ld + j0, ld));
                let w = match h {
                    16 => super::transpose8_load(&rows8(src, (i0 + 8) * ld + j0, ld)),
                    _ => v,
                };
                for j in 0..8 {
                    let d = &mut dst[(j0 + j) * rows + i0..][..h];
                    // SAFETY: `d` holds h floats: 8 at 0 and, when h = 16, 8 more at 8.
                    unsafe {
                        _mm256_storeu_ps(d.as_mut_ptr(), done(v[j], b0));
                        if h == 16 {
                            _mm256_storeu_ps(d.as_mut_ptr().add(8), done(w[j], b1));
                        }
                    }
                }
            }
            edge(src, ld, rows, dst, epi, i0..i0 + h, c8..cols);
            i0 += h;
        }
        edge(src, ld, rows, dst, epi, r8..rows, 0..cols);
    }

    /// `dst[at + j·stride + i] = s[i][j]` for an 8×8 block, in registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn transpose8_to(s: &[&[f32; 8]; 8], dst: &mut [f32], at: usize, stride: usize) {
        use std::arch::x86_64::*;
        let d = &mut dst[at..at + 7 * stride + 8];
        // SAFETY: row j's 8 floats at j·stride lie within `d` (7·stride + 8 long).
        unsafe {
            for (j, v) in super::transpose8_load(s).into_iter().enumerate() {
                _mm256_storeu_ps(d.as_mut_ptr().add(j * stride), v);
            }
        }
    }

    /// `out[j][i] = s[i][j]` for an 8×8 block, in registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn transpose8(s: &[&[f32; 8]; 8], out: &mut [[f32; 8]; 8]) {
        use std::arch::x86_64::*;
        // SAFETY: `transpose8_load` reads the 8 floats of each `&[f32; 8]`; each store writes
        // one `[f32; 8]` row of `out`.
        unsafe {
            for (row, v) in out.iter_mut().zip(super::transpose8_load(s)) {
                _mm256_storeu_ps(row.as_mut_ptr(), v);
            }
        }
    }
}

/// The 4×4 transposes within each 128-bit half of `r[0..4]`: lane-half h of `out[j]` holds
/// element j of that half of `r[0]`, `r[1]`, `r[2]`, `r[3]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose4x2(r: [std::arch::x86_64::__m256; 4]) -> [std::arch::x86_64::__m256; 4] {
    use std::arch::x86_64::*;
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    [
        _mm256_shuffle_ps::<0x44>(t0, t2),
        _mm256_shuffle_ps::<0xEE>(t0, t2),
        _mm256_shuffle_ps::<0x44>(t1, t3),
        _mm256_shuffle_ps::<0xEE>(t1, t3),
    ]
}

/// Lane j of `out[i]` is `s[j][i]`: an 8×8 transpose whose step across 128-bit halves is done
/// by the loads (each register loads half of row i and half of row i + 4), leaving only
/// in-half shuffles. A `vperm2f128` per output row costs 8 µops on Zen 1 (3 cycles each, half
/// of an interleaving depthwise convolution's time at stride 2); these loads cost none.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn transpose8_load(s: &[&[f32; 8]; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    // SAFETY: each load reads 4 floats at offset 0 or 4 of one `&[f32; 8]`.
    let half = |i: usize, c: usize| unsafe {
        let lo = _mm256_castps128_ps256(_mm_loadu_ps(s[i].as_ptr().add(c)));
        _mm256_insertf128_ps::<1>(lo, _mm_loadu_ps(s[i + 4].as_ptr().add(c)))
    };
    let a = transpose4x2([half(0, 0), half(1, 0), half(2, 0), half(3, 0)]);
    let b = transpose4x2([half(0, 4), half(1, 4), half(2, 4), half(3, 4)]);
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

/// Stores the transpose of `r` (lane l of every `r[p]`, p = 0..8) as 8 floats at `dst[l]`,
/// l = 0..8, from in-half shuffles (LLVM may still merge two halves into one 256-bit store
/// through a `vperm2f128`: measured no slower than 128-bit stores on Zen 1).
///
/// # Safety
/// Each `dst[l]` must be valid for writing 8 floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn transpose8_store(r: [std::arch::x86_64::__m256; 8], dst: [*mut f32; 8]) {
    use std::arch::x86_64::*;
    // u[j] holds lane j (low half) and lane 4 + j (high half) of pixels 0..4, v[j] of 4..8.
    let u = transpose4x2([r[0], r[1], r[2], r[3]]);
    let v = transpose4x2([r[4], r[5], r[6], r[7]]);
    for j in 0..4 {
        // SAFETY: by the caller's contract, 8 floats at each `dst[l]`.
        unsafe {
            _mm_storeu_ps(dst[j], _mm256_castps256_ps128(u[j]));
            _mm_storeu_ps(dst[j].add(4), _mm256_castps256_ps128(v[j]));
            _mm_storeu_ps(dst[j + 4], _mm256_extractf128_ps::<1>(u[j]));
            _mm_storeu_ps(dst[j + 4].add(4), _mm256_extractf128_ps::<1>(v[j]));
        }
    }
}

/// `out[j][i] = s[i][j]` for an 8×8 block: in AVX2 registers when `F` (the caller runs under
/// an x86 `Isa`), else element by element.
#[inline(always)]
pub(crate) fn transpose8<const F: bool>(s: &[&[f32; 8]; 8], out: &mut [[f32; 8]; 8]) {
    #[cfg(target_arch = "x86_64")]
    if F {
        // SAFETY: `F` is only true in code reached through an x86 `Isa`, which `Isa::detect`
        // produces after finding AVX2 and FMA on this CPU.
        unsafe { avx2::transpose8(s, out) };
        return;
    }
    for (j, row) in out.iter_mut().enumerate() {
        for (i, v) in row.iter_mut().enumerate() {
            *v = s[i][j];
        }
    }
}

#[inline(always)]
pub(crate) fn fma<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Output rows `r0..r1` into `y` (which starts at row r0), tile by tile along n; X transposed
/// when `x_t` > 0 (see [`SparseWeights::matmul_x`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows<const F: bool, const Z: bool>(
    w: &SparseWeights,
    x: &[f32],
    x_t: usize,
    n: usize,
    y: &mut [f32],
    r0: usize,
    r1: usize,
    acc: bool,
) {
    let (gather, pitch) = match w {
        SparseWeights::Csr(c) => (&c.gather[..], c.pitch),
        _ => (&[][..], 0),
    };
    assert!(x_t == 0 || pitch > 0, "transposed X needs gathered rows");
    // Only the floats each tile copies are written; the kernels read no others.
    // The copy starts on a cache line, so that its 64-byte rows are read one line each (a
    // 90%-sparse MLP at batch 256: 0.163 -> 0.133 ms with AVX-512).
    let mut buf = match pitch {
        0 => Vec::new(),
        _ => crate::buffers::take(gather.len() * pitch + 16),
    };
    let skip = buf.as_ptr().align_offset(64).min(16).min(buf.len());
    let packed = &mut buf[skip..];
    let mut j = 0;
    while j < n {
        // 64-column tiles; then 40 to 63 columns as one tile, walking the non-zeros once with
        // 5–7 accumulators instead of two or three (resnet18's 7×7 layers, padded to 56
        // columns, were slower sparse than dense at 70% when walked as 32 + 16 + 1); then 32,
        // 16, 8 and single columns.
        let width = match n - j {
            // AVX-512: 64 columns, or all that are left in one masked tile (but single
            // columns, where four partial sums per row hide the FMA latency better).
            r if Z && r >= 8 => r.min(64),
            r if r >= 64 => 64,
            r if r >= 40 => r / 8 * 8,
            r if r >= 32 => 32,
            r if r >= 16 => 16,
            r if r >= 8 => 8,
            _ => 1,
        };
        if x_t > 0 {
            pack_t::<F>(x, x_t, n, gather, pitch, j, width, packed);
        } else if pitch > 0 {
            pack(x, gather, pitch, j, width, packed);
        }
        #[cfg(target_arch = "x86_64")]
        if Z && width >= 8 {
            // SAFETY: `Z` is only true in code reached through `Isa::Avx512`, which
            // `Isa::detect` produces after finding AVX-512F, AVX2 and FMA on this CPU.
            unsafe { avx512::tile(w, x, packed, n, y, (r0, r1), j, width, acc) };
            j += width;
            continue;
        }
        match width {
            64 => tile::<F, 64>(w, x, packed, n, y, r0, r1, j, acc),
            56 => tile::<F, 56>(w, x, packed, n, y, r0, r1, j, acc),
            48 => tile::<F, 48>(w, x, packed, n, y, r0, r1, j, acc),
            40 => tile::<F, 40>(w, x, packed, n, y, r0, r1, j, acc),
            32 => tile::<F, 32>(w, x, packed, n, y, r0, r1, j, acc),
            16 => tile::<F, 16>(w, x, packed, n, y, r0, r1, j, acc),
            8 => tile::<F, 8>(w, x, packed, n, y, r0, r1, j, acc),
            _ => tile::<F, 1>(w, x, packed, n, y, r0, r1, j, acc),
        }
        j += width;
    }
    if pitch > 0 {
        crate::buffers::recycle(buf);
    }
}

/// Copies columns `j..j + width` of each gathered source row (with the floats after them that
/// its shifted columns read) into `packed`, `pitch` floats apart.
#[inline(always)]
fn pack(
    x: &[f32],
    gather: &[(u32, u32)],
    pitch: usize,
    j: usize,
    width: usize,
    packed: &mut [f32],
) {
    for (d, &(o, shift)) in packed.chunks_exact_mut(pitch).zip(gather) {
        let len = shift as usize + width;
        let src = &x[o as usize + j..][..len];
        // 8 floats at a time: a `memcpy` call per row was a fifth of a sparse MLP's time.
        let mut d8 = d[..len].chunks_exact_mut(8);
        let mut s8 = src.chunks_exact(8);
        for (a, b) in (&mut d8).zip(&mut s8) {
            let b: &[f32; 8] = b.try_into().expect("8 floats");
            a.copy_from_slice(b);
        }
        for (a, b) in d8.into_remainder().iter_mut().zip(s8.remainder()) {
            *a = *b;
        }
    }
}

/// [`pack`] from a transposed X (column c's activation t at `x[t·x_t + c]`, offsets c·n):
/// 8 consecutive columns by 8 activations through an 8×8 register transpose, the rest one by
/// one. Gathered rows here are never shared (n > [`GATHER_SLACK`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pack_t<const F: bool>(
    x: &[f32],
    x_t: usize,
    n: usize,
    gather: &[(u32, u32)],
    pitch: usize,
    j: usize,
    width: usize,
    packed: &mut [f32],
) {
    let col = |r: usize| gather[r].0 as usize / n;
    let mut block = [[0f32; 8]; 8];
    let mut r = 0;
    while r < gather.len() {
        let c = col(r);
        let run8 = r + 8 <= gather.len() && col(r + 7) == c + 7;
        if !run8 || width < 8 {
            for t in 0..width {
                packed[r * pitch + t] = x[(j + t) * x_t + c];
            }
            r += 1;
            continue;
        }
        let mut t = 0;
        while t + 8 <= width {
            let s = rows8(x, (j + t) * x_t + c, x_t);
            #[cfg(target_arch = "x86_64")]
            if F {
                // Straight from registers into the copy (staged through a block, then copied,
                // the transposes were a third of a 90%-sparse MLP's time).
                // SAFETY: `F` is only true in code reached through an x86 `Isa`, which
                // `Isa::detect` produces after finding AVX2 and FMA on this CPU.
                unsafe { avx2::transpose8_to(&s, packed, r * pitch + t, pitch) };
                t += 8;
                continue;
            }
            transpose8::<F>(&s, &mut block);
            for (i, b) in block.iter().enumerate() {
                packed[(r + i) * pitch + t..][..8].copy_from_slice(b);
            }
            t += 8;
        }
        for i in 0..8 {
            for tt in t..width {
                packed[(r + i) * pitch + tt] = x[(j + tt) * x_t + c + i];
            }
        }
        r += 8;
    }
}

/// Columns `j..j + T` of output rows `r0..r1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const F: bool, const T: usize>(
    w: &SparseWeights,
    x: &[f32],
    packed: &[f32],
    n: usize,
    y: &mut [f32],
    r0: usize,
    r1: usize,
    j: usize,
    acc: bool,
) {
    match w {
        SparseWeights::Csr(c) => {
            // Gathered: each column reads the packed tile at its stored position.
            let (x, xj) = match c.pitch {
                0 => (x, j),
                _ => (packed, 0),
            };
            for r in r0..r1 {
                let out: &mut [f32; T] = (&mut y[(r - r0) * n + j..][..T]).try_into().unwrap();
                let mut a = if acc { *out } else { [0f32; T] };
                let (mut s, e) = (c.row_ptr[r] as usize, c.row_ptr[r + 1] as usize);
                if T == 1 {
                    // One column: four independent partial sums hide the FMA latency.
                    let mut p = [0f32; 4];
                    while s + 4 <= e {
                        for (q, pq) in p.iter_mut().enumerate() {
                            let at = c.col[s + q] as usize + xj;
                            *pq = fma::<F>(c.val[s + q], x[at], *pq);
                        }
                        s += 4;
                    }
                    a[0] += (p[0] + p[1]) + (p[2] + p[3]);
                }
                // (No software prefetch of upcoming rows: the loop it added per non-zero cost
                // more than it saved, 5–10% on resnet18 at 70% and 90%.)
                for (&k, &v) in c.col[s..e].iter().zip(&c.val[s..e]) {
                    let xs: &[f32; T] = x[k as usize + xj..][..T].try_into().unwrap();
                    for t in 0..T {
                        a[t] = fma::<F>(v, xs[t], a[t]);
                    }
                }
                *out = a;
            }
        }
        // `matmul_isa` runs the ranges one after another (a recursive call here would keep this
        // function from being inlined into the AVX2 code).
        SparseWeights::Chunked(_) => unreachable!("column ranges reach the tiles one by one"),
        SparseWeights::Block(b) => {
            // Blocks keep 4 rows of accumulators: 16 columns at a time fill the registers.
            if T >= 16 {
                // Plain loops, not closures: a closure may be compiled once outside the
                // `#[target_feature]` function, with every FMA a library call (40× slower).
                for q in 0..T / 16 {
                    block_cols::<F, 16>(b, x, n, y, r0, r1, j + 16 * q, acc)
                }
                if T % 16 == 8 {
                    block_cols::<F, 8>(b, x, n, y, r0, r1, j + T - 8, acc)
                }
            } else if T == 8 {
                block_cols::<F, 8>(b, x, n, y, r0, r1, j, acc)
            } else {
                for q in 0..T {
                    block_cols::<F, 1>(b, x, n, y, r0, r1, j + q, acc)
                }
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_cols<const F: bool, const T: usize>(
    b: &BlockCsr,
    x: &[f32],
    n: usize,
    y: &mut [f32],
    r0: usize,
    r1: usize,
    j: usize,
    acc: bool,
) {
    const R: usize = BLOCK_ROWS;
    debug_assert!(r0.is_multiple_of(R));
    let mut r = r0;
    while r < r1 {
        let live = R.min(r1 - r);
        let mut a = [[0f32; T]; R];
        if acc {
            for (i, ai) in a.iter_mut().enumerate().take(live) {
                *ai = y[(r - r0 + i) * n + j..][..T].try_into().unwrap();
            }
        }
        let br = r / R;
        let (s, e) = (b.row_ptr[br] as usize, b.row_ptr[br + 1] as usize);
        for (bi, &k) in b.col[s..e].iter().enumerate() {
            let xs: &[f32; T] = x[k as usize + j..][..T].try_into().unwrap();
            let v: &[f32; R] = b.val[(s + bi) * R..][..R].try_into().unwrap();
            for i in 0..R {
                for t in 0..T {
                    a[i][t] = fma::<F>(v[i], xs[t], a[i][t]);
                }
            }
        }
        for (i, ai) in a.iter().enumerate().take(live) {
            y[(r - r0 + i) * n + j..][..T].copy_from_slice(ai);
        }
        r += R;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn dense(w: &[f32], x: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    y[i * n + j] += w[i * k + p] * x[p * n + j];
                }
            }
        }
        y
    }

    #[test]
    fn every_format_and_isa_matches_dense() {
        let mut s = 7u64;
        for &(m, k, n, blocky) in &[
            (5, 9, 1, false),
            (13, 17, 75, false),
            (8, 33, 130, true),
            (10, 6, 67, true),
            (64, 72, 200, false),
            // One 40- to 56-column tile after the 64-column ones (49 = 48 + 1).
            (12, 40, 49, false),
            (8, 40, 56, true),
            (12, 20, 104, true),
            (6, 30, 64 + 47, false),
            // AVX-512 tiles of 2, 3 and 1 whole vectors after 64 columns.
            (9, 21, 64 + 32, false),
            (12, 24, 64 + 48, true),
            (7, 30, 16, false),
            // Deep and heavy enough to be split into column ranges: of 128 columns (CSR over few
            // output columns), and of 1024 (3 and one of 100).
            (100, 3 * CHUNK_COLS + 100, 20, false),
            (90, 3 * CHUNK_COLS + 100, SHORT_N + 6, false),
            // Wide enough for L1 ranges (128, 128 and 44 columns); blocks stay whole.
            (37, 2 * TILE_RANGE_COLS + 44, TILE_RANGE_MIN_N + 9, false),
            (16, 2 * TILE_RANGE_COLS + 44, TILE_RANGE_MIN_N + 9, true),
            // Blocks a third dense over a reduction of 556: ranges of 256, 256 and 44.
            (16, 2 * SHORT_CHUNK_COLS + 44, 70, true),
        ] {
            let w: Vec<f32> = (0..m * k)
                .map(|i| {
                    let v = lcg(&mut s);
                    let zero = if blocky {
                        ((i / k / 4) * 31 + i % k) % 3 != 0
                    } else {
                        v.abs() < 0.7
                    };
                    if zero {
                        0.0
                    } else {
                        v
                    }
                })
                .collect();
            let x: Vec<f32> = (0..k * n).map(|_| lcg(&mut s)).collect();
            let want = dense(&w, &x, m, k, n);
            let sw = SparseWeights::from_dense(&w, m, k, n);
            let at = |c: usize| (c * n) as u32;
            // The deep case has over CHUNK_MIN_BYTES of stored weights; the wide CSR one reads
            // too many activation rows per tile for L1, and so do dense enough blocks over 512
            // columns or more; the others stay whole.
            let chunked = k > 2 * CHUNK_COLS
                || (!blocky && n >= TILE_RANGE_MIN_N && k >= 2 * TILE_RANGE_COLS)
                || (blocky && k >= 2 * SHORT_CHUNK_COLS);
            assert_eq!(
                chunked,
                matches!(sw, SparseWeights::Chunked(_)),
                "{m}x{k}x{n}"
            );
            if !chunked {
                assert_eq!(sw.format(), if blocky { "block4x1" } else { "csr" });
            }
            let forced = [
                sw.clone(),
                SparseWeights::Csr(Csr::from_dense(&w, m, k, &at)),
                SparseWeights::Csr(Csr::gathered(&w, m, k, n, &at)),
                SparseWeights::Block(BlockCsr::from_dense(&w, m, k, &at)),
            ];
            for f in &forced {
                // The fused x86 kernels (AVX2, AVX-512) add each output's products in the same
                // order, and so agree bit for bit, where no column is left to AVX2's single-
                // column tiles (four partial sums): n a multiple of 8.
                let mut fused: Option<Vec<f32>> = None;
                for isa in Isa::available() {
                    for threads in [1, 3] {
                        let mut y = vec![0.5f32; m * n];
                        f.matmul_isa(&x, n, &mut y, true, threads, isa);
                        for (a, b) in y.iter().zip(&want) {
                            assert!((a - (b + 0.5)).abs() < 1e-4, "{m}x{k}x{n} {isa:?} {a} {b}");
                        }
                        f.matmul_isa(&x, n, &mut y, false, threads, isa);
                        for (a, b) in y.iter().zip(&want) {
                            assert!((a - b).abs() < 1e-4, "{m}x{k}x{n} {isa:?}");
                        }
                        if isa.avx2() && n.is_multiple_of(8) {
                            let first = fused.get_or_insert_with(|| y.clone());
                            assert!(
                                first
                                    .iter()
                                    .zip(&y)
                                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                                "{m}x{k}x{n} {} {isa:?} threads {threads}",
                                f.format()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shifted_columns_in_place_and_gathered() {
        // A 3×3 convolution's view: column (ci, ky, kx) reads a padded plane from
        // ci·plane + ky·wq + kx, so the taps of a row overlap.
        let mut s = 11u64;
        let (m, cin, wq, n) = (24, 40, 10, 80);
        let plane = 9 * wq + 2;
        let k = 9 * cin;
        let at = move |c: usize| ((c / 9) * plane + (c % 9) / 3 * wq + c % 3) as u32;
        let x: Vec<f32> = (0..cin * plane + n).map(|_| lcg(&mut s)).collect();
        let w: Vec<f32> = (0..m * k)
            .map(|_| lcg(&mut s))
            .map(|v| if v.abs() < 0.5 { 0.0 } else { v })
            .collect();
        let mut want = vec![0f32; m * n];
        for i in 0..m {
            for c in 0..k {
                for j in 0..n {
                    want[i * n + j] += w[i * k + c] * x[at(c) as usize + j];
                }
            }
        }
        // Three taps per source row: read in place.
        assert_eq!(source_rows(&column_offsets(k, &at)).0.len(), 3 * cin);
        let auto = SparseWeights::from_dense_at(&w, m, k, n, &at);
        let gathered = SparseWeights::Csr(Csr::gathered(&w, m, k, n, &at));
        if let SparseWeights::Csr(g) = &gathered {
            assert_eq!(g.gather.len(), 3 * cin);
            assert_eq!(g.pitch, 64 + 8);
        }
        for f in [&auto, &gathered] {
            for isa in Isa::available() {
                let mut y = vec![0f32; m * n];
                f.matmul_isa(&x, n, &mut y, false, 2, isa);
                for (a, b) in y.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "{} {isa:?} {a} {b}", f.format());
                }
            }
        }
    }

    #[test]
    fn transposed_products_gather_untransposed_activations() {
        // y (m×nn) = a (m×k) × Wᵀ + c, W (nn×k) sparse, some columns of W all zero (unused by
        // every row) and k not a multiple of 8; m 8 takes the transposing path with a copy.
        let mut s = 5u64;
        for &(m, k, nn) in &[(1, 37, 9), (8, 300, 20), (20, 300, 33), (70, 45, 16)] {
            let w: Vec<f32> = (0..nn * k)
                .map(|i| {
                    let v = lcg(&mut s);
                    match (i % k) % 7 == 3 || v.abs() < 0.6 {
                        true => 0.0,
                        false => v,
                    }
                })
                .collect();
            let a: Vec<f32> = (0..m * k).map(|_| lcg(&mut s)).collect();
            let c: Vec<f32> = (0..m * nn).map(|_| lcg(&mut s)).collect();
            let mut c_t = vec![0f32; m * nn];
            transpose(&c, m, nn, &mut c_t);
            let sw = SparseWeights::for_matmul_t(&w, nn, k, m);
            let dot = |i: usize, o: usize| (0..k).map(|p| a[i * k + p] * w[o * k + p]).sum::<f32>();
            let mut y = vec![0f32; m * nn];
            sw.matmul_t(&a, m, Some(&c_t), None, &mut y, 2);
            for i in 0..m {
                for o in 0..nn {
                    let want = c[i * nn + o] + dot(i, o);
                    let got = y[i * nn + o];
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{m}x{k}x{nn} [{i},{o}] {got} {want}"
                    );
                }
            }
            // A bias per output column and a clamp, added as Y is stored back (no start value);
            // then the clamp alone over a start value.
            let bias: Vec<f32> = (0..nn).map(|_| lcg(&mut s)).collect();
            let (lo, hi) = (-0.3, 0.4);
            let clamped = |v: f32| v.max(lo).min(hi);
            let epi = Epilogue {
                bias: Some(&bias),
                lo,
                hi,
                cols: None,
            };
            let mut y = vec![f32::NAN; m * nn];
            sw.matmul_t(&a, m, None, Some(&epi), &mut y, 1);
            let clamp = Epilogue { bias: None, ..epi };
            let mut z = vec![f32::NAN; m * nn];
            sw.matmul_t(&a, m, Some(&c_t), Some(&clamp), &mut z, 1);
            for i in 0..m {
                for o in 0..nn {
                    let (want, got) = (clamped(bias[o] + dot(i, o)), y[i * nn + o]);
                    assert!((got - want).abs() < 1e-4, "{m}x{k}x{nn} [{i},{o}] bias");
                    let (want, got) = (clamped(c[i * nn + o] + dot(i, o)), z[i * nn + o]);
                    assert!((got - want).abs() < 1e-4, "{m}x{k}x{nn} [{i},{o}] clamp");
                }
            }
        }
    }

    #[test]
    fn transposes_agree() {
        let mut s = 3u64;
        for (r, c) in [
            (1, 1),
            (8, 8),
            (13, 21),
            (64, 9),
            (17, 40),
            (24, 19),
            (40, 33),
        ] {
            let mut a: Vec<f32> = (0..r * c).map(|_| lcg(&mut s)).collect();
            a[r * c / 2] = f32::NAN;
            let bias: Vec<f32> = (0..r).map(|_| lcg(&mut s)).collect();
            let epi = Epilogue {
                bias: Some(&bias),
                lo: -0.2,
                hi: 0.5,
                cols: None,
            };
            let clamp = Epilogue { bias: None, ..epi };
            for isa in Isa::available() {
                let mut t = vec![0f32; r * c];
                transpose_isa(&a, r, c, &mut t, isa);
                for i in 0..r {
                    for j in 0..c {
                        let (got, want) = (t[j * r + i], a[i * c + j]);
                        assert_eq!(got.to_bits(), want.to_bits(), "{r}x{c} {isa:?}");
                    }
                }
                // With the epilogue, a NaN becomes `lo`, as `Post::clamp` has it.
                for e in [&epi, &clamp] {
                    transpose_epi(&a, c, r, c, &mut t, isa, Some(e));
                    for i in 0..r {
                        for j in 0..c {
                            let v = a[i * c + j] + e.bias.map_or(0.0, |b| b[i]);
                            let want = v.max(e.lo).min(e.hi);
                            assert_eq!(t[j * r + i], want, "{r}x{c} {isa:?} epilogue");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_rows_and_all_zero_weights() {
        let w = vec![0f32; 6 * 4];
        let sw = SparseWeights::from_dense(&w, 6, 4, 3);
        assert_eq!(sw.stored(), 0);
        let mut y = vec![1f32; 6 * 3];
        sw.matmul(&[1.0; 12], 3, &mut y, false, 2);
        assert!(y.iter().all(|&v| v == 0.0));
    }
}
