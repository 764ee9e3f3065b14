//! `Conv` kernel: im2col + GEMM per group (1×1 stride-1 convolutions skip im2col), a direct
//! loop for depthwise convolutions; samples of a batch in parallel.

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::packed::{self, AMat, ARows, BMat, BRows, Epilogue, PackedA, PackedB, MR, NR};
use crate::sparse::{self, Isa, SparseChoice, SparseWeights};
use crate::{Result, Value};

/// The geometry of a 2-D convolution: shapes, groups, kernel, strides, pads, dilations. Shared
/// with the trainer (coprune-train), which runs the same im2col for forward and backward passes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGeom {
    /// Input shape [N, C, H, W].
    pub x: Vec<usize>,
    /// Output shape [N, M, OH, OW].
    pub y: Vec<usize>,
    pub group: usize,
    /// [kh, kw].
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    /// [top, left, bottom, right].
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
}

impl ConvGeom {
    /// Reads the geometry of a `Conv` node (2-D only).
    pub fn from_ctx(c: &LowerCtx) -> Result<ConvGeom> {
        let x = c.in_shape(0)?;
        let y = c.out_shape(0)?;
        let ws = c.in_shape(1)?;
        if x.len() != 4 || ws.len() != 4 {
            return Err(c.unsupported(" (only 2-D convolutions)"));
        }
        let group = c.node.attr_int("group", 1)?.max(1) as usize;
        let kernel = vec![ws[2], ws[3]];
        let get = |name: &str, n: usize, default: usize| -> Result<Vec<usize>> {
            let v: Vec<usize> = c
                .node
                .attr_ints(name)?
                .map(|v| v.iter().map(|&x| x.max(0) as usize).collect())
                .unwrap_or_else(|| vec![default; n]);
            if v.len() != n {
                return Err(
                    c.unsupported(&format!(" ({name} has {} values, expected {n})", v.len()))
                );
            }
            Ok(v)
        };
        let strides = get("strides", 2, 1)?;
        let dilations = get("dilations", 2, 1)?;
        let auto_pad = c.node.attr_str("auto_pad", "NOTSET")?;
        let pads = match auto_pad.as_str() {
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut p = vec![0; 4];
                for i in 0..2 {
                    let total = ((y[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1)
                        .saturating_sub(x[2 + i]);
                    let (small, big) = (total / 2, total - total / 2);
                    (p[i], p[2 + i]) = if auto_pad == "SAME_UPPER" {
                        (small, big)
                    } else {
                        (big, small)
                    };
                }
                p
            }
            _ => get("pads", 4, 0)?,
        };
        if x[1] % group != 0 || y[1] % group != 0 || ws[1] * group != x[1] {
            return Err(c.unsupported(&format!(
                " (weight {ws:?} does not fit input {x:?} with group {group})"
            )));
        }
        Ok(ConvGeom {
            x,
            y,
            group,
            kernel,
            strides,
            pads,
            dilations,
        })
    }

    /// Input channels per group.
    pub fn cg(&self) -> usize {
        self.x[1] / self.group
    }

    /// Output channels per group.
    pub fn mg(&self) -> usize {
        self.y[1] / self.group
    }

    /// Rows of one group's im2col matrix: cg·kh·kw.
    pub fn kk(&self) -> usize {
        self.cg() * self.kernel[0] * self.kernel[1]
    }

    /// Output pixels per channel: oh·ow.
    pub fn plane(&self) -> usize {
        self.y[2] * self.y[3]
    }

    /// One plane's geometry, as the depthwise kernels take it.
    pub fn dw_geom(&self) -> super::depthwise::DwGeom {
        super::depthwise::DwGeom {
            h: self.x[2],
            w: self.x[3],
            oh: self.y[2],
            ow: self.y[3],
            kh: self.kernel[0],
            kw: self.kernel[1],
            sh: self.strides[0],
            sw: self.strides[1],
            dh: self.dilations[0],
            dw: self.dilations[1],
            ph: self.pads[0],
            pw: self.pads[1],
        }
    }

    /// Whether this is a depthwise convolution (one input channel per group).
    pub fn depthwise(&self) -> bool {
        self.group > 1 && self.group == self.x[1]
    }

    /// Whether im2col is the identity (1×1, stride 1, no padding).
    pub fn direct(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads.iter().all(|&p| p == 0)
    }

    /// im2col of one group of one sample: `xg` is [cg, H, W]; `cols` (kk × plane, rows
    /// (ci, ky, kx), columns (oy, ox)) is overwritten, zeros where the window is in the padding.
    pub fn im2col(&self, xg: &[f32], cols: &mut [f32], threads: usize) {
        self.for_each_tap(cols, threads, |dst, src_row, lo, hi, start, sw| {
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            let Some(src) = src_row.map(|r| &xg[r..]) else {
                dst.fill(0.0);
                return;
            };
            if sw == 1 {
                dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
            } else {
                for (d, s) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(sw)) {
                    *d = *s;
                }
            }
        });
    }

    /// The adjoint of [`ConvGeom::im2col`]: adds every column entry back into `dxg` ([cg, H, W]).
    /// Parallel over input channels (each channel's block writes only its own plane).
    pub fn col2im(&self, cols: &[f32], dxg: &mut [f32], threads: usize) {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let hw = self.x[2] * self.x[3];
        let block = kh * kw * self.plane();
        let one = |ci: usize, plane: &mut [f32]| {
            self.taps(
                &cols[ci * block..(ci + 1) * block],
                |src, row, lo, hi, start, sw| {
                    let dst = &mut plane[row..];
                    if sw == 1 {
                        for (d, s) in dst[start..start + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[start..].iter_mut().step_by(sw).zip(&src[lo..hi]) {
                            *d += *s;
                        }
                    }
                },
            );
        };
        chunks_in_parallel(dxg, hw, threads, one);
    }

    /// Visits each output row of each kernel tap of channel `ci` in an im2col block (read-only):
    /// `f(row_of_block, input_row_offset, lo, hi, start, stride)` for rows inside the image.
    fn taps(&self, block: &[f32], mut f: impl FnMut(&[f32], usize, usize, usize, usize, usize)) {
        let (h, w) = (self.x[2], self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let (dh, dw) = (self.dilations[0], self.dilations[1]);
        let (ph, pw) = (self.pads[0], self.pads[1]);
        let plane = oh * ow;
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = &block[(ky * kw + kx) * plane..][..plane];
                let off = (kx * dw) as isize - pw as isize;
                let (lo, hi) = valid_columns(off, sw, w, ow);
                if hi <= lo {
                    continue;
                }
                let start = ((lo * sw) as isize + off) as usize;
                for oy in 0..oh {
                    let iy = (oy * sh + ky * dh) as isize - ph as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    f(
                        &tap[oy * ow..(oy + 1) * ow],
                        iy as usize * w,
                        lo,
                        hi,
                        start,
                        sw,
                    );
                }
            }
        }
    }

    /// Fills an im2col matrix row by row: `f(dst_row, Some(offset of the input row in the
    /// group) | None (row in the padding), lo, hi, start, stride)`; parallel over input channels.
    fn for_each_tap(
        &self,
        cols: &mut [f32],
        threads: usize,
        f: impl Fn(&mut [f32], Option<usize>, usize, usize, usize, usize) + Sync,
    ) {
        let (h, w) = (self.x[2], self.x[3]);
        let (oh, ow) = (self.y[2], self.y[3]);
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let (sh, sw) = (self.strides[0], self.strides[1]);
        let (dh, dw) = (self.dilations[0], self.dilations[1]);
        let (ph, pw) = (self.pads[0], self.pads[1]);
        let plane = oh * ow;
        let fill = |ci: usize, block: &mut [f32]| {
            for ky in 0..kh {
                for kx in 0..kw {
                    let row = &mut block[(ky * kw + kx) * plane..][..plane];
                    // Output columns whose input column ix = ox·sw + kx·dw − pw lies inside the
                    // row: [lo, hi); zeros elsewhere, a (strided) copy inside.
                    let off = (kx * dw) as isize - pw as isize;
                    let (lo, hi) = valid_columns(off, sw, w, ow);
                    let start = ((lo * sw) as isize + off).max(0) as usize;
                    for oy in 0..oh {
                        let iy = (oy * sh + ky * dh) as isize - ph as isize;
                        let dst = &mut row[oy * ow..(oy + 1) * ow];
                        let src = (iy >= 0 && iy < h as isize && hi > lo)
                            .then(|| (ci * h + iy as usize) * w);
                        f(dst, src, lo, hi, start, sw);
                    }
                }
            }
        };
        let block_len = kh * kw * plane;
        chunks_in_parallel(cols, block_len, threads, fill);
    }
}

struct Conv {
    geom: ConvGeom,
    w: Vec<f32>,
    bias: Option<Vec<f32>>,
    threads: usize,
    /// The weight of each group compressed, when it has enough zeros (see `sparse`).
    sparse: Option<Vec<SparseWeights>>,
    choice: Option<SparseChoice>,
    /// A Relu/Clip fused into the output.
    post: Option<crate::kernel::Post>,
    /// The weight of each group packed for the dense GEMM (not for depthwise convolutions).
    packed: Vec<PackedA>,
    /// How the dense GEMM reads its B operand, and the offset of each of B's rows in it.
    dense: Dense,
    offs: Vec<usize>,
    /// Each group's weight transposed and packed, when the output plane is so small that the
    /// transposed product fills the register tiles better (see `PackedB`); then `packed` is
    /// empty.
    transposed: Vec<PackedB>,
    /// Where the transposed product reads each output pixel in the layout's rows (its A read
    /// in place, see [`ARows`]); empty when it packs Aᵀ per call instead (1×1 kernels) or does
    /// not transpose.
    pixels: Vec<usize>,
    /// On several threads, a reducing 1×1 convolution's weights split by input channels, one
    /// range per thread (see [`SplitK`]).
    split: Option<SplitK>,
    /// Whether the output is written channels-last (`[OH][OW][M]`, the transposed product's
    /// Cᵀ as it is; see `layout`).
    nhwc_out: bool,
    /// A residual Add fused into this convolution (see `Session`'s fusion), with the
    /// activation after the Add: `post` is then None, and the residual is added before this.
    residual: Option<Option<crate::kernel::Post>>,
    /// A depthwise convolution's kernel packed in blocks of eight channels.
    dw: Option<super::depthwise::DwWeights>,
    /// With AVX-512, a stride-1 same-width depthwise geometry's plan for the planar kernel.
    dw_planar: Option<super::depthwise_planar::Planar>,
    isa: Isa,
    /// How the sparse path reads B (its own trade-off between wide rows and im2col).
    sparse_layout: (Dense, Vec<usize>),
}

thread_local! {
    /// The B buffer (im2col or phase planes) and wide output of every convolution run on this
    /// thread. Kept per convolution instead, resnet18's 20 convolutions kept 20 of each, out
    /// of cache by the time each ran again: its 64-channel 3×3 convolutions took 10–20% longer
    /// inside the model than alone.
    static SCRATCH: std::cell::Cell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// The fraction of register-tile work that is useful for an m × n output in MR × NR tiles (a
/// narrower tail tile has fewer independent accumulators, so it costs about a full one).
fn tile_use(m: usize, n: usize) -> f64 {
    (m * n) as f64 / (m.div_ceil(MR) * MR * n.div_ceil(NR) * NR) as f64
}

/// Where the dense GEMM's B (kk × columns) comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dense {
    /// 1×1, stride 1, no padding: the input itself.
    Direct,
    /// A padded copy of the input split into sh × sw phase planes (`[channel][py][px][hq][wq]`,
    /// element (r, c) of phase (py, px) being padded pixel (r·sh + py, c·sw + px)), so each tap
    /// reads one phase plane at a shift: output rows are wq wide and their last columns are
    /// dropped. No im2col; stride 1 has one phase.
    Wide { hq: usize, wq: usize },
    /// An im2col matrix.
    Im2col,
    /// A channels-last input (`[H][W][C]`, see `layout`), read by the transposed product where
    /// it lies when unpadded, else from a padded copy `[H + pads][wp][C]`: each output pixel's
    /// row of A starts at its window's corner, strides and all, so no stride phases are split.
    Nhwc { wp: usize, padded: bool },
}

/// The channels-last input's layout: each tap's offset (channel ci, row dy, column dx of the
/// window at (dy·wp + dx)·C + ci) and each output pixel's (its window's corner).
fn nhwc_layout(gm: &ConvGeom) -> (Dense, Vec<usize>, Vec<usize>) {
    let (c, w) = (gm.x[1], gm.x[3]);
    let kw = gm.kernel[1];
    let (dh, dw) = (gm.dilations[0], gm.dilations[1]);
    let (sh, sw) = (gm.strides[0], gm.strides[1]);
    let padded = gm.pads.iter().any(|&p| p > 0);
    let wp = w + gm.pads[1] + gm.pads[3];
    let offs = (0..gm.kk())
        .map(|k| {
            let (t, ci) = (k / c, k % c);
            let (dy, dx) = ((t / kw) * dh, (t % kw) * dw);
            (dy * wp + dx) * c + ci
        })
        .collect();
    let ow = gm.y[3];
    let pixels = (0..gm.y[2])
        .flat_map(|oy| (0..ow).map(move |ox| (oy * sh * wp + ox * sw) * c))
        .collect();
    (Dense::Nhwc { wp, padded }, offs, pixels)
}

/// A reducing 1×1 convolution (at least twice as many input channels as output) run on
/// several threads as one product per range of input channels, summed after: each thread then
/// reads the input channels the layer before it wrote on that thread (that layer's output is
/// split by channels), where split by pixels or output channels every thread read half its
/// input from the other core's cache. mobilenet_v2's project convolutions at 14×14 and 7×7, 2
/// threads on this Intel VM: 1.3–1.45× faster (the model 4.66 -> 4.27 ms); the partial sums
/// they exchange instead are a sixth of the input.
struct SplitK {
    /// Thread t's input channels: `bounds[t]..bounds[t + 1]`, multiples of 8 (the depthwise
    /// kernels' channel blocks).
    bounds: Vec<usize>,
    /// Per group, each range's weight packed as the whole product packs it: transposed when
    /// the product is, else as A.
    transposed: Vec<Vec<PackedB>>,
    packed: Vec<Vec<PackedA>>,
}

impl SplitK {
    /// The ranges of input channels for `threads` threads, when `geom` is a reducing 1×1
    /// convolution with at least 96 input channels per thread (mobilenet_v2's 96→24 one at 56×56, 48 a thread, ran 2× slower split, its 144→24 and 144→32 ones no faster; the 192→32 ones at 28×28 1.2× faster).
    fn bounds(geom: &ConvGeom, threads: usize) -> Option<Vec<usize>> {
        let (cg, mg) = (geom.cg(), geom.mg());
        (threads > 1 && geom.direct() && !geom.depthwise() && cg >= 2 * mg && cg >= 96 * threads)
            .then(|| {
                (0..=threads)
                    .map(|t| ((cg * t / threads).div_ceil(8) * 8).min(cg))
                    .collect()
            })
    }
}

impl Conv {
    /// The dense kernel: weights packed for the GEMM in the orientation that fills the register
    /// tiles best (or as `transpose` says), for `isa`.
    #[allow(clippy::too_many_arguments)]
    fn dense(
        geom: ConvGeom,
        w: Vec<f32>,
        bias: Option<Vec<f32>>,
        threads: usize,
        post: Option<crate::kernel::Post>,
        transpose: Option<bool>,
        isa: Isa,
        (nhwc_in, nhwc_out): (bool, bool),
    ) -> Conv {
        // With AVX-512 the GEMM reads wide rows where they lie (no packing), so they may waste
        // more columns before im2col pays (14×14 planes: 16 of 14, 1–2% faster).
        let limit = if isa == Isa::Avx512 { (6, 5) } else { (9, 8) };
        let (mut dense, mut offs) = dense_layout(&geom, limit);
        // The sparse kernels spend less per column, so im2col costs them relatively more.
        let sparse_layout = dense_layout(&geom, (23, 20));
        let (mg, kk) = (geom.mg(), geom.kk());
        let cols = match dense {
            Dense::Wide { wq, .. } => geom.y[2] * wq,
            _ => geom.plane(),
        };
        let (mut packed, mut transposed, mut pixels) = (Vec::new(), Vec::new(), Vec::new());
        let nhwc = nhwc_in || nhwc_out;
        let mut split = SplitK::bounds(&geom, threads)
            .filter(|_| !nhwc)
            .map(|bounds| SplitK {
                bounds,
                transposed: Vec::new(),
                packed: Vec::new(),
            });
        if !geom.depthwise() {
            // Transposing costs a pass over Bᵀ and one over the output, which only a deep
            // reduction repays (measured on resnet18's and mobilenet_v2's 7×7 layers).
            // A kernel of several taps reads Aᵀ where it lies: the padded phase planes,
            // whatever columns the wide rows waste (each output pixel is one row of A, so none
            // is computed), never an im2col. Its taps share cache lines; a 1×1 convolution's
            // rows would each be a line of their own (a 960→160 one at 7×7 ran 17% slower than
            // packing Aᵀ on Zen 3). Transposing then pays on planes up to 16×16 with AVX2
            // (resnet18's 3×3 layers at 14×14: 7% faster on Zen 3, at 28×28 no faster) and up
            // to 32×32 with AVX-512 (on Zen 4: 10% faster at 14×14, 17% at 7×7, 2.5% at 28×28;
            // a reduction of 576 at 28×28 ran 5% slower).
            // With AVX-512 (a 48 KiB L1 here), a 1×1 convolution reading at least 256 input
            // channels on a plane of at most 32×32 reads Aᵀ in place too: its per-call packing
            // of B (a 576→96 one at 14×14 packs 450 KB) cost more than the rows' lines. On this
            // Intel VM, 1 thread: mobilenet_v2's 1×1 project convolutions 2.31–2.46 -> 2.09–2.22
            // ms in all (features.17's 960→320 at 7×7: 0.30 -> 0.26; 128 channels and up was
            // slower at 28×28); 2 threads: no change beyond noise.
            // On two threads or more, one that widens (more output channels than input) packs: each
            // row task then reads half the weights (mobilenet_v2's features.18, 320→1280 at 7×7:
            // 0.23–0.24 -> 0.20 ms at 2 threads; at 1 thread 0.42 -> 0.44–0.46, so not there).
            let one_wide = isa == Isa::Avx512
                && geom.direct()
                && kk >= 256
                && geom.plane() <= 1024
                && (mg <= kk || threads <= 1);
            // A channels-last input or output takes the transposed product, A read in place.
            let in_place = geom.kernel[0] * geom.kernel[1] > 1 || one_wide || nhwc;
            let max_plane = if isa == Isa::Avx512 { 1024 } else { 256 };
            let better = kk >= 512 && tile_use(cols, mg) > 1.15 * tile_use(mg, cols)
                || in_place && kk >= 1024 && geom.plane() <= max_plane
                || one_wide
                || nhwc;
            if transpose.unwrap_or(better) {
                if nhwc_in {
                    (dense, offs, pixels) = nhwc_layout(&geom);
                } else if in_place {
                    if dense == Dense::Im2col {
                        (dense, offs) = dense_layout(&geom, (1 << 20, 1));
                    }
                    let wq = match dense {
                        Dense::Wide { wq, .. } => wq,
                        _ => geom.y[3],
                    };
                    pixels = (0..geom.y[2])
                        .flat_map(|oy| (0..geom.y[3]).map(move |ox| oy * wq + ox))
                        .collect();
                }
                // Row k of Wᵀ: the weight's column k, or, read channels-last (taps outermost,
                // see `nhwc_layout`), the column of tap k / C, channel k % C.
                let (taps, cg) = (geom.kernel[0] * geom.kernel[1], geom.cg());
                let src_k = |k: usize| if nhwc_in { (k % cg) * taps + k / cg } else { k };
                for wg in w.chunks(mg * kk) {
                    let wt: Vec<f32> = (0..kk * mg)
                        .map(|i| wg[(i % mg) * kk + src_k(i / mg)])
                        .collect();
                    if let Some(sp) = split.as_mut().filter(|_| in_place) {
                        // Rows k0..k1 of Wᵀ: input channels k0..k1 (a 1×1 kernel).
                        let part =
                            |b: &[usize]| PackedB::new(&wt[b[0] * mg..b[1] * mg], b[1] - b[0], mg);
                        sp.transposed.push(sp.bounds.windows(2).map(part).collect());
                    }
                    transposed.push(PackedB::new(&wt, kk, mg));
                }
            } else {
                packed = w
                    .chunks(mg * kk)
                    .map(|wg| PackedA::new(wg, mg, kk))
                    .collect();
                if let Some(sp) = &mut split {
                    for wg in w.chunks(mg * kk) {
                        let part = |b: &[usize]| {
                            let cols: Vec<f32> = wg
                                .chunks(kk)
                                .flat_map(|r| r[b[0]..b[1]].iter().copied())
                                .collect();
                            PackedA::new(&cols, mg, b[1] - b[0])
                        };
                        sp.packed.push(sp.bounds.windows(2).map(part).collect());
                    }
                }
            }
            if split
                .as_ref()
                .is_some_and(|sp| sp.transposed.is_empty() && sp.packed.is_empty())
            {
                split = None;
            }
        }
        let dw = geom
            .depthwise()
            .then(|| super::depthwise::DwWeights::new(&w, bias.as_deref(), geom.y[1], geom.kk()));
        let dw_planar = (geom.depthwise() && isa == Isa::Avx512)
            .then(|| super::depthwise_planar::Planar::new(&geom.dw_geom()))
            .flatten();
        Conv {
            geom,
            w,
            bias,
            threads,
            sparse: None,
            choice: None,
            post,
            packed,
            dense,
            offs,
            transposed,
            pixels,
            split,
            nhwc_out,
            residual: None,
            dw,
            dw_planar,
            isa,
            sparse_layout,
        }
    }
}

impl Conv {
    /// Each group's weight compressed for the sparse kernels; column (ci, ky, kx) reads where
    /// the dense path's B row for that tap starts, so both paths share one B source.
    fn compressed(&self) -> Vec<SparseWeights> {
        let (mg, kk, n) = (self.geom.mg(), self.geom.kk(), self.geom.plane());
        self.w
            .chunks(mg * kk)
            .map(|wg| {
                SparseWeights::from_dense_at(wg, mg, kk, n, &|col| self.sparse_layout.1[col] as u32)
            })
            .collect()
    }
}

/// Lowers `Conv` (2-D; constant weight).
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let geom = ConvGeom::from_ctx(c)?;
    let w = c
        .const_f32(1)
        .ok_or_else(|| c.unsupported(" (weight computed at run time)"))?;
    let bias = match c.inputs.get(2).copied().flatten() {
        None => None,
        Some(_) => Some(
            c.const_f32(2)
                .ok_or_else(|| c.unsupported(" (bias computed at run time)"))?,
        ),
    };
    // With a residual, the activation follows the addition: the product and bias first.
    let post = if c.residual { None } else { c.post };
    let nhwc = (c.nhwc_in, c.nhwc_out);
    let mut conv = Conv::dense(geom, w, bias, c.threads, post, None, Isa::detect(), nhwc);
    if c.residual {
        conv.residual = Some(c.post);
    }
    let density = sparse::density(&conv.w);
    if density < 1.0 && !conv.geom.depthwise() {
        conv.choice = Some(SparseChoice {
            density,
            format: None,
            timed_ms: None,
        });
        if sparse::candidate(c.sparse, density) && nhwc == (false, false) {
            let gm = &conv.geom;
            let groups = conv.compressed();
            let format = groups[0].format();
            conv.sparse = Some(groups);
            let x = sparse::probe_input(gm.x[1..].iter().product());
            let mut y = vec![0f32; gm.y[1..].iter().product()];
            let choice = sparse::settle(c.sparse, density, format, |on| {
                conv.sample(&x, &mut y, conv.threads, on)
            });
            if choice.format.is_none() {
                conv.sparse = None;
            }
            conv.choice = Some(choice);
        }
    }
    Ok(Box::new(conv))
}

/// How the dense path reads B, and where each of B's rows (ci, ky, kx) starts in what it reads.
/// Stride-1 convolutions read the padded input directly unless the extra columns of the wide
/// rows (wp − ow of every wp) would cost more than im2col saves (small planes): at most
/// `num/den` times the output's columns.
fn dense_layout(gm: &ConvGeom, (num, den): (usize, usize)) -> (Dense, Vec<usize>) {
    let (kh, kw) = (gm.kernel[0], gm.kernel[1]);
    let (dh, dw) = (gm.dilations[0], gm.dilations[1]);
    let plane = gm.plane();
    if gm.direct() {
        let hw = gm.x[2] * gm.x[3];
        return (Dense::Direct, (0..gm.cg()).map(|k| k * hw).collect());
    }
    let (sh, sw) = (gm.strides[0], gm.strides[1]);
    let (hq, wq) = (
        (gm.x[2] + gm.pads[0] + gm.pads[2]).div_ceil(sh),
        (gm.x[3] + gm.pads[1] + gm.pads[3]).div_ceil(sw),
    );
    if gm.y[2] * wq * den <= plane * num {
        let offs = (0..gm.kk())
            .map(|k| {
                let (ci, t) = (k / (kh * kw), k % (kh * kw));
                let (dy, dx) = ((t / kw) * dh, (t % kw) * dw);
                let phase = (dy % sh) * sw + dx % sw;
                ((ci * sh * sw + phase) * hq + dy / sh) * wq + dx / sw
            })
            .collect();
        return (Dense::Wide { hq, wq }, offs);
    }
    (Dense::Im2col, (0..gm.kk()).map(|k| k * plane).collect())
}

/// One output channel's row finished in place: its bias `add`, the fused residual's row `r`
/// when there is one, then clamped to `[lo, hi]`.
#[inline(always)]
fn finish_row(yo: &mut [f32], add: f32, r: Option<&[f32]>, (lo, hi): (f32, f32)) {
    match r {
        Some(r) => {
            for (v, &a) in yo.iter_mut().zip(r) {
                *v = (*v + add + a).max(lo).min(hi);
            }
        }
        None => {
            for v in yo {
                *v = (*v + add).max(lo).min(hi);
            }
        }
    }
}

/// Rows of pixels per task when the transposed products of [`SplitK`] are summed.
const SUM_ROWS: usize = 8;

/// Output channels per task of the transposed product's store (a multiple of 8, the
/// transpose's block).
const TRANSPOSE_CHANNELS: usize = 32;

/// `f(i, chunk)` for each `size`-long chunk of `data`, on the session's threads when `threads`
/// > 1.
fn chunks_in_parallel<F>(data: &mut [f32], size: usize, threads: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    if threads > 1 {
        crate::pool::chunks_mut(data, size, f);
    } else {
        data.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// Output columns `[lo, hi)` whose input column `ox·stride + off` lies in `0..w` (of `ow`).
pub fn valid_columns(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let lo = if off >= 0 {
        0
    } else {
        ((-off) as usize).div_ceil(stride)
    }
    .min(ow);
    let hi = if (w as isize) <= off {
        0
    } else {
        ((w as isize - off) as usize).div_ceil(stride)
    };
    (lo, hi.clamp(lo, ow))
}

impl Conv {
    /// One sample: x [C, H, W] → y [M, OH, OW].
    fn sample(&self, x: &[f32], y: &mut [f32], threads: usize, use_sparse: bool) {
        self.sample_in(x, y, None, threads, use_sparse);
    }

    /// The fused residual `r` (this sample's, shaped as y) added to the sample's output `y`,
    /// and its activation applied: the pass after a product whose output pass did not.
    fn add_residual(&self, y: &mut [f32], r: &[f32], threads: usize) {
        let post = self.residual.flatten();
        let plane = self.geom.plane().max(1);
        chunks_in_parallel(y, plane, threads, |o, yo| {
            let ro = &r[o * plane..][..yo.len()];
            match post {
                Some(p) => yo
                    .iter_mut()
                    .zip(ro)
                    .for_each(|(v, &a)| *v = p.clamp(*v + a)),
                None => yo.iter_mut().zip(ro).for_each(|(v, &a)| *v += a),
            }
        });
    }

    /// The residual an output pass over group `g`'s channels adds (one group only: it is then
    /// shaped as the group's output), and the bounds that pass clamps to: the activation after
    /// the residual when it adds it, else the epilogue's.
    fn residual_pass<'r>(
        &self,
        r: Option<&'r [f32]>,
        e: &Epilogue,
    ) -> (Option<&'r [f32]>, (f32, f32)) {
        let res = r.filter(|_| self.geom.group == 1);
        let bounds = match (res, self.residual.flatten()) {
            (Some(_), Some(p)) => (p.lo, p.hi),
            _ => (e.lo, e.hi),
        };
        (res, bounds)
    }

    /// One sample's output; with the fused residual `r`, adds it (and returns true) where the
    /// path's own output pass can, else leaves it to [`Conv::add_residual`].
    fn sample_in(
        &self,
        x: &[f32],
        y: &mut [f32],
        r: Option<&[f32]>,
        threads: usize,
        use_sparse: bool,
    ) -> bool {
        let gm = &self.geom;
        let (c, h, w) = (gm.x[1], gm.x[2], gm.x[3]);
        let (m, oh, ow) = (gm.y[1], gm.y[2], gm.y[3]);
        let (kh, kw) = (gm.kernel[0], gm.kernel[1]);
        let (sh, sw) = (gm.strides[0], gm.strides[1]);
        let (dh, dw) = (gm.dilations[0], gm.dilations[1]);
        let g = gm.group;
        let (cg, mg) = (gm.cg(), gm.mg());
        let kk = gm.kk();
        let plane = gm.plane();
        if gm.depthwise() {
            // Depthwise: each output channel reads one input channel. With AVX-512, the planar
            // kernel (ops/depthwise_planar.rs) where it applies: on this Intel VM mobilenet_v2
            // went 7.8–8.0 -> 7.2–7.5 ms at 1 thread, 4.7–4.9 -> 4.5–4.6 at 2 (alone, its
            // stride-1 layers 1.45× faster). Else the interleaving one (ops/depthwise.rs).
            let mult = m / c;
            let dwk = self.dw.as_ref().expect("depthwise weights packed at load");
            let clamp = self
                .post
                .map_or((f32::NEG_INFINITY, f32::INFINITY), |p| (p.lo, p.hi));
            if let Some(pl) = &self.dw_planar {
                let size = super::depthwise::LANES * plane;
                chunks_in_parallel(y, size, threads, |b, ys| {
                    pl.block(x, dwk, clamp, mult, b, ys)
                });
                return false;
            }
            let dg = gm.dw_geom();
            let isa = crate::sparse::Isa::detect();
            let lanes = super::depthwise::LANES;
            let run = |b: usize, ys: &mut [f32], scratch: &mut [f32]| {
                super::depthwise::block(isa, &dg, x, dwk, clamp, mult, b, ys, scratch);
            };
            let len = dg.scratch_len();
            if threads > 1 {
                crate::pool::chunks_mut(y, lanes * plane, |b, ys| {
                    super::depthwise::with_scratch(len, |s| run(b, ys, s))
                });
            } else {
                super::depthwise::with_scratch(len, |s| {
                    y.chunks_mut(lanes * plane)
                        .enumerate()
                        .for_each(|(b, ys)| run(b, ys, s))
                });
            }
            return false;
        }
        let sparse = self.sparse.as_ref().filter(|_| use_sparse);
        let epi = |gi: usize| Epilogue {
            bias: self.bias.as_deref().map(|b| &b[gi * mg..(gi + 1) * mg]),
            lo: self.post.map_or(f32::NEG_INFINITY, |p| p.lo),
            hi: self.post.map_or(f32::INFINITY, |p| p.hi),
            cols: None,
        };
        let (layout, offs) = match sparse {
            Some(_) => (self.sparse_layout.0, &self.sparse_layout.1),
            None => (self.dense, &self.offs),
        };
        // The thread's scratch, shared by every convolution it runs: the previous convolution
        // just used it, so it is in cache. Taken for this sample and put back after it (a
        // sample nested on this thread would start from empty buffers).
        let (mut buf, mut wide_out) = SCRATCH.take();
        let mut added = false;
        let need = match layout {
            Dense::Direct => 0,
            Dense::Im2col => kk * plane,
            Dense::Wide { hq, wq } => sh * sw * cg * hq * wq + (kw - 1) * dw / sw + 1,
            Dense::Nhwc { wp, padded } => padded as usize * (h + gm.pads[0] + gm.pads[2]) * wp * c,
        };
        // The sparse kernels walk a row's non-zeros once per column tile of 8 to 64: an im2col
        // whose columns are not a multiple of 8 (7×7 = 49: 32 + 16 + 1) is multiplied with its
        // column count rounded up, reading a few floats of the next row (and of the padding
        // after the last) into output columns that are dropped.
        let padded = match (sparse, layout) {
            (Some(_), Dense::Im2col) => plane.next_multiple_of(8),
            _ => plane,
        };
        buf.resize(need + (padded - plane), 0.0);
        // What no layout below writes (the floats read past the last phase plane or im2col
        // row, only ever into dropped columns) is zeroed: another convolution may have left
        // anything there, and NaN or subnormal leftovers are not worth their slow paths.
        let written = match layout {
            Dense::Wide { hq, wq } => sh * sw * cg * hq * wq,
            _ => need,
        };
        buf[written..].fill(0.0);
        for gi in 0..g {
            let xg = &x[gi * cg * h * w..(gi + 1) * cg * h * w];
            let yg = &mut y[gi * mg * plane..(gi + 1) * mg * plane];
            let (src, n, row): (&[f32], usize, usize) = match layout {
                Dense::Direct => (xg, plane, ow),
                Dense::Im2col => {
                    gm.im2col(xg, &mut buf[..need], threads);
                    (&buf[..], plane, ow)
                }
                Dense::Nhwc { padded: false, .. } => (xg, plane, ow),
                Dense::Nhwc { wp, padded: true } => {
                    // Padded rows: the left padding, the input row (w·C floats), the right
                    // padding; rows of padding above and below.
                    let (top, left) = (gm.pads[0], gm.pads[1]);
                    chunks_in_parallel(&mut buf[..need], wp * c, threads, |r, row| {
                        match r.checked_sub(top).filter(|&iy| iy < h) {
                            Some(iy) => {
                                let (a, b) = (left * c, (left + w) * c);
                                row[..a].fill(0.0);
                                row[a..b].copy_from_slice(&xg[iy * w * c..][..w * c]);
                                row[b..].fill(0.0);
                            }
                            None => row.fill(0.0),
                        }
                    });
                    (&buf[..], plane, ow)
                }
                Dense::Wide { hq, wq } => {
                    let (top, left) = (gm.pads[0], gm.pads[1]);
                    let block = sh * sw * hq * wq;
                    // Phases no tap reads (a 1×1 stride-2 convolution reads one of four) stay
                    // unfilled.
                    let rows_read: Vec<bool> =
                        (0..sh).map(|p| (0..kh).any(|k| k * dh % sh == p)).collect();
                    let cols_read: Vec<bool> =
                        (0..sw).map(|p| (0..kw).any(|k| k * dw % sw == p)).collect();
                    // One input channel's phase planes: zeroed (their padding, and phases
                    // no tap reads, which the dropped columns of wide rows may), then their
                    // inside written. Without dropped columns (wq = ow) a product reads only
                    // the phases its taps read, and only those are zeroed: a 1×1 stride-2
                    // convolution read one phase of four and zeroed all four (resnet18's
                    // downsample convolutions).
                    let plane_q = hq * wq;
                    let only_read = ow == wq;
                    let fill = |ci: usize, planes: &mut [f32]| {
                        if only_read {
                            for (q, p) in planes.chunks_exact_mut(plane_q).enumerate() {
                                if rows_read[q / sw] && cols_read[q % sw] {
                                    p.fill(0.0);
                                }
                            }
                        } else {
                            planes.fill(0.0);
                        }
                        for iy in 0..h {
                            let (py, r) = ((iy + top) % sh, (iy + top) / sh);
                            if !rows_read[py] {
                                continue;
                            }
                            let src = &xg[(ci * h + iy) * w..][..w];
                            if sw == 2 && cols_read[0] && cols_read[1] {
                                // Even input columns go to phase left % 2 from left / 2, odd
                                // ones to the other phase from (left + 1) / 2: one pass.
                                let at = |px: usize, c0: usize| ((py * sw + px) * hq + r) * wq + c0;
                                let ate = at(left % 2, left / 2);
                                let ato = at((left + 1) % 2, left.div_ceil(2));
                                let (ne, no) = (w.div_ceil(2), w / 2);
                                let (even, odd) = if ate < ato {
                                    let (a, b) = planes.split_at_mut(ato);
                                    (&mut a[ate..ate + ne], &mut b[..no])
                                } else {
                                    let (a, b) = planes.split_at_mut(ate);
                                    (&mut b[..ne], &mut a[ato..ato + no])
                                };
                                super::deinterleave2(src, even, odd);
                                continue;
                            }
                            for px in (0..sw).filter(|&px| cols_read[px]) {
                                // Input columns ix with (ix + left) % sw == px, from column c0.
                                let ix0 = (px + sw - left % sw) % sw;
                                let c0 = (ix0 + left) / sw;
                                let at = ((py * sw + px) * hq + r) * wq + c0;
                                match sw {
                                    1 => planes[at..at + w].copy_from_slice(src),
                                    2 => {
                                        // Pairs rather than a strided walk: the compiler
                                        // vectorizes them.
                                        let full = (w - ix0) / 2;
                                        let pairs = src[ix0..ix0 + 2 * full].chunks_exact(2);
                                        let dst = planes[at..at + full].iter_mut();
                                        for (d, pair) in dst.zip(pairs) {
                                            *d = pair[0];
                                        }
                                        if (w - ix0) % 2 == 1 {
                                            planes[at + full] = src[w - 1];
                                        }
                                    }
                                    _ => {
                                        let row = src.iter().skip(ix0).step_by(sw);
                                        for (d, &v) in planes[at..].iter_mut().zip(row) {
                                            *d = v;
                                        }
                                    }
                                }
                            }
                        }
                    };
                    let planes = &mut buf[..cg * block];
                    chunks_in_parallel(planes, block, threads, fill);
                    (&buf[..], oh * wq, wq)
                }
            };
            let b = BRows { src, offs, n };
            // The GEMM's columns are output pixels `row` to an output row (the last row − ow of
            // each dropped), or its rows are when transposed.
            if let (None, Some(wt)) = (sparse, self.transposed.get(gi)) {
                let plain = Epilogue::none();
                // Cᵀ's rows: one per output pixel when A is read in place, else one per
                // column of B (wide rows included).
                let row = if self.pixels.is_empty() {
                    let bt = PackedA::transposed(&b, threads);
                    wide_out.resize(n * mg, 0.0);
                    let a = AMat::Packed(&bt);
                    packed::gemm(
                        self.isa,
                        a,
                        BMat::Packed(wt),
                        &mut wide_out,
                        mg,
                        plain,
                        threads,
                    );
                    bt.recycle();
                    row
                } else if let Some((sp, parts)) = self
                    .split
                    .as_ref()
                    .and_then(|sp| Some((sp, sp.transposed.get(gi)?)))
                    .filter(|_| threads > 1)
                {
                    // Each thread's range of input channels into its own Cᵀ, then summed
                    // into the first by rows of pixels.
                    let size = plane * mg;
                    wide_out.resize(parts.len() * size, 0.0);
                    let (isa, kb) = (self.isa, &sp.bounds);
                    crate::pool::chunks_mut(&mut wide_out, size, |t, ct| {
                        let a = AMat::Rows(ARows {
                            src,
                            offs: &offs[kb[t]..kb[t + 1]],
                            rows: &self.pixels,
                        });
                        packed::gemm(isa, a, BMat::Packed(&parts[t]), ct, mg, plain, 1);
                    });
                    let (first, rest) = wide_out.split_at_mut(size);
                    let rest = &*rest;
                    let block = SUM_ROWS * mg;
                    chunks_in_parallel(first, block, threads, |i, d| {
                        for r in rest.chunks(size) {
                            d.iter_mut()
                                .zip(&r[i * block..])
                                .for_each(|(x, y)| *x += *y);
                        }
                    });
                    ow
                } else {
                    let a = AMat::Rows(ARows {
                        src,
                        offs,
                        rows: &self.pixels,
                    });
                    if self.nhwc_out {
                        // Channels-last, Cᵀ is the output itself: the tiles add the bias per
                        // output channel and the residual (channels-last too), then clamp.
                        let e = epi(gi);
                        let (res, (lo, hi)) = self.residual_pass(r, &e);
                        let cols = packed::Cols {
                            bias: e.bias,
                            residual: res,
                        };
                        let fused = Epilogue {
                            bias: None,
                            lo,
                            hi,
                            cols: Some(cols),
                        };
                        packed::gemm(self.isa, a, BMat::Packed(wt), yg, mg, fused, threads);
                        added |= res.is_some();
                        continue;
                    }
                    wide_out.resize(plane * mg, 0.0);
                    packed::gemm(
                        self.isa,
                        a,
                        BMat::Packed(wt),
                        &mut wide_out,
                        mg,
                        plain,
                        threads,
                    );
                    ow
                };
                let e = epi(gi);
                let ct = &wide_out[..];
                if row == ow {
                    // Cᵀ's rows are the output pixels themselves: an 8×8-block transpose, then
                    // the bias and clip over each channel's plane (a strided gather per value
                    // took 10 µs of a 960→160 convolution's 80 at 7×7, on any thread count),
                    // in blocks of channels on the session's threads (serial, they were 2% of
                    // resnet18 at one thread and more at two).
                    // A fused residual is added here too, before the activation (one group:
                    // the residual is then this group's output, shaped as it).
                    let (isa, cb) = (self.isa, TRANSPOSE_CHANNELS);
                    let (res, bounds) = self.residual_pass(r, &e);
                    chunks_in_parallel(yg, cb * plane, threads, |blk, ys| {
                        let c0 = blk * cb;
                        let cols = ys.len() / plane;
                        crate::sparse::transpose_ld(&ct[c0..], mg, plane, cols, ys, isa);
                        for (o, yo) in ys.chunks_mut(plane).enumerate() {
                            let add = e.bias.map_or(0.0, |b| b[c0 + o]);
                            let ro = res.map(|r| &r[(c0 + o) * plane..][..plane]);
                            finish_row(yo, add, ro, bounds);
                        }
                    });
                    added |= res.is_some();
                    continue;
                }
                let store = |o: usize, yo: &mut [f32]| {
                    let add = e.bias.map_or(0.0, |b| b[o]);
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let v = ct[(oy * row + ox) * mg + o] + add;
                            yo[oy * ow + ox] = v.max(e.lo).min(e.hi);
                        }
                    }
                };
                chunks_in_parallel(yg, plane, threads, store);
                continue;
            }
            // Straight into the output when its rows are the GEMM's or the AVX-512 tiles
            // store wide rows as output rows; else wide rows first, compacted below.
            if sparse.is_none() && self.isa == Isa::Avx512 && row != ow && ow >= packed::NR {
                let a = AMat::Packed(&self.packed[gi]);
                let wide = packed::Wide { wq: row, ow };
                packed::gemm_wide(
                    self.isa,
                    a,
                    BMat::Rows(b),
                    yg,
                    plane,
                    wide,
                    epi(gi),
                    threads,
                );
                continue;
            }
            let n = n.max(padded);
            let wide = row != ow || n != plane;
            let out = if wide {
                wide_out.resize(mg * n, 0.0);
                &mut wide_out[..]
            } else {
                &mut yg[..]
            };
            let parts = self
                .split
                .as_ref()
                .and_then(|sp| Some((sp, sp.packed.get(gi)?)))
                .filter(|_| threads > 1 && sparse.is_none() && !wide);
            if let Some((sp, parts)) = parts {
                // Each thread's range of input channels into its own C, then summed into the
                // output with the bias and clamp, by output channels.
                let size = mg * n;
                wide_out.resize(parts.len() * size, 0.0);
                let (isa, kb) = (self.isa, &sp.bounds);
                crate::pool::chunks_mut(&mut wide_out, size, |t, c| {
                    let b = BRows {
                        src,
                        offs: &offs[kb[t]..kb[t + 1]],
                        n,
                    };
                    let a = AMat::Packed(&parts[t]);
                    packed::gemm(isa, a, BMat::Rows(b), c, n, Epilogue::none(), 1);
                });
                // A fused residual is added in this pass too (one group: shaped as yg).
                let e = epi(gi);
                let (res, bounds) = self.residual_pass(r, &e);
                let partial = &wide_out[..];
                chunks_in_parallel(yg, plane, threads, |o, yo| {
                    let add = e.bias.map_or(0.0, |b| b[o]);
                    yo.copy_from_slice(&partial[o * n..][..n]);
                    for p in partial.chunks(size).skip(1) {
                        yo.iter_mut().zip(&p[o * n..]).for_each(|(x, y)| *x += *y);
                    }
                    finish_row(yo, add, res.map(|r| &r[o * n..][..n]), bounds);
                });
                added |= res.is_some();
                continue;
            }
            match sparse {
                // Compressed rows whose column offsets point into the same B source; the bias
                // and clamp follow in the pass below.
                Some(sw) => sw[gi].matmul(src, n, out, false, threads),
                None => packed::gemm(
                    self.isa,
                    AMat::Packed(&self.packed[gi]),
                    BMat::Rows(b),
                    out,
                    n,
                    epi(gi),
                    threads,
                ),
            }
            // The packed GEMM adds the bias and clamps in its tiles; the sparse kernels leave
            // both to this pass, which also compacts wide rows (a bias fill before the product
            // and a clamp pass after it had cost a 90%-sparse resnet18 stem a third of its time
            // in memory traffic).
            let e = epi(gi);
            let post = self.post;
            let biased = |v: f32, add: f32| post.map_or(v + add, |p| p.clamp(v + add));
            if wide {
                chunks_in_parallel(yg, plane, threads, |o, yo| {
                    let (r, add) = (&wide_out[o * n..][..n], e.bias.map_or(0.0, |b| b[o]));
                    for oy in 0..oh {
                        let (d, s) = (&mut yo[oy * ow..][..ow], &r[oy * row..][..ow]);
                        if sparse.is_some() {
                            d.iter_mut().zip(s).for_each(|(d, &s)| *d = biased(s, add));
                        } else {
                            d.copy_from_slice(s);
                        }
                    }
                });
            } else if sparse.is_some() && (e.bias.is_some() || post.is_some()) {
                chunks_in_parallel(yg, plane, threads, |o, yo| {
                    let add = e.bias.map_or(0.0, |b| b[o]);
                    yo.iter_mut().for_each(|v| *v = biased(*v, add));
                });
            }
        }
        SCRATCH.set((buf, wide_out));
        added
    }
}

impl Kernel for Conv {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let gm = &self.geom;
        let n = gm.x[0];
        let (xs, ys) = (
            gm.x[1..].iter().product::<usize>(),
            gm.y[1..].iter().product::<usize>(),
        );
        let r = match self.residual {
            None => None,
            Some(_) => {
                let r = f32_in(inputs, 3)?;
                if r.len() != n * ys {
                    return Err(crate::RuntimeError::Input {
                        name: "#3".into(),
                        msg: format!("residual of {} values for an output of {}", r.len(), n * ys),
                    });
                }
                Some(r)
            }
        };
        let one = |i: usize, xi: &[f32], yo: &mut [f32], threads: usize| {
            let ri = r.map(|r| &r[i * ys..][..ys]);
            if let (Some(ri), false) = (ri, self.sample_in(xi, yo, ri, threads, true)) {
                self.add_residual(yo, ri, threads);
            }
        };
        // Every path below writes each output element.
        let mut y = crate::buffers::take(n * ys);
        if n > 1 && self.threads > 1 {
            crate::pool::chunks_mut(&mut y, ys, |i, yo| one(i, &x[i * xs..][..xs], yo, 1));
        } else {
            for (i, (yo, xi)) in y.chunks_mut(ys).zip(x.chunks(xs)).enumerate() {
                one(i, xi, yo, self.threads);
            }
        }
        Ok(vec![Value::f32(gm.y.clone(), y)])
    }

    fn sparse(&self) -> Option<&SparseChoice> {
        self.choice.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Post;

    /// (c, h, w, m, group, [kh, kw], [sh, sw], [top, left, bottom, right], [dh, dw])
    type Case = (
        usize,
        usize,
        usize,
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 4],
        [usize; 2],
    );

    fn geom(&(c, h, w, m, group, k, s, p, d): &Case) -> ConvGeom {
        let out = |i: usize, len: usize| (len + p[i] + p[i + 2] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
        ConvGeom {
            x: vec![1, c, h, w],
            y: vec![1, m, out(0, h), out(1, w)],
            group,
            kernel: k.to_vec(),
            strides: s.to_vec(),
            pads: p.to_vec(),
            dilations: d.to_vec(),
        }
    }

    fn reference(g: &ConvGeom, x: &[f32], wt: &[f32], bias: &[f32], post: Post) -> Vec<f32> {
        let (c, h, w) = (g.x[1], g.x[2], g.x[3]);
        let (m, oh, ow) = (g.y[1], g.y[2], g.y[3]);
        let (cg, mg) = (g.cg(), g.mg());
        let (kh, kw) = (g.kernel[0], g.kernel[1]);
        let mut y = vec![0f32; m * oh * ow];
        for o in 0..m {
            let gi = o / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias[o] as f64;
                    for ci in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize
                                    - g.pads[0] as isize;
                                let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize
                                    - g.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv = x[((gi * cg + ci) * h + iy as usize) * w + ix as usize];
                                s += (wt[((o * cg + ci) * kh + ky) * kw + kx] * xv) as f64;
                            }
                        }
                    }
                    y[(o * oh + oy) * ow + ox] = (s as f32).max(post.lo).min(post.hi);
                }
            }
        }
        assert_eq!(c % cg, 0);
        y
    }

    fn data(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104729) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// Fills this thread's convolution scratch with NaN, longer than any case needs.
    fn poison_scratch() {
        SCRATCH.set((vec![f32::NAN; 1 << 16], vec![f32::NAN; 1 << 16]));
    }

    #[test]
    fn every_dense_layout_and_orientation_matches_the_definition() {
        let cases: [Case; 17] = [
            (8, 14, 14, 12, 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), // sparse wide, dense im2col
            (3, 16, 40, 4, 1, [3, 3], [2, 1], [1, 1, 1, 1], [1, 1]),  // phases in rows only
            (8, 9, 11, 13, 1, [1, 1], [1, 1], [0, 0, 0, 0], [1, 1]),  // the input itself
            (5, 20, 18, 7, 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),  // wide rows
            (3, 23, 21, 9, 1, [7, 7], [2, 2], [3, 3, 3, 3], [1, 1]),  // stride-2 phases
            (6, 16, 16, 8, 1, [1, 1], [2, 2], [0, 0, 0, 0], [1, 1]),  // 1×1 stride 2
            (16, 7, 7, 40, 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),  // small plane
            (4, 17, 19, 6, 1, [3, 5], [2, 1], [0, 2, 1, 1], [1, 1]),  // uneven everything
            (4, 19, 20, 5, 1, [3, 3], [1, 1], [2, 2, 2, 2], [2, 2]),  // dilation 2
            (8, 12, 12, 10, 2, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]), // two groups
            (4, 13, 13, 6, 1, [3, 3], [3, 3], [1, 0, 2, 1], [1, 1]),  // stride 3
            (3, 9, 9, 4, 1, [3, 3], [2, 2], [1, 1, 1, 1], [2, 1]),    // stride and dilation
            (2, 5, 40, 3, 1, [2, 2], [1, 2], [0, 1, 0, 0], [1, 1]),   // wide, short
            (4, 10, 13, 5, 1, [3, 3], [2, 2], [0, 0, 1, 1], [1, 1]),  // stride 2, even left pad
            (12, 6, 6, 45, 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),  // channel blocks 32 + 13
            (256, 5, 6, 20, 1, [1, 1], [1, 1], [0, 0, 0, 0], [1, 1]), // 1×1, Aᵀ in place (AVX-512)
            (200, 7, 9, 30, 1, [1, 1], [1, 1], [0, 0, 0, 0], [1, 1]), // split 104 + 96 (2 threads)
        ];
        let relu = Post {
            lo: 0.0,
            hi: f32::INFINITY,
        };
        let none = Post {
            lo: f32::NEG_INFINITY,
            hi: f32::INFINITY,
        };
        let mut seen = std::collections::BTreeSet::new();
        for (i, case) in cases.iter().enumerate() {
            let g = geom(case);
            let x = data(g.x.iter().product(), i);
            let wt = data(g.y[1] * g.kk(), i + 100);
            let bias = data(g.y[1], i + 200);
            for isa in Isa::available() {
                for transpose in [None, Some(false), Some(true)] {
                    for (post, threads) in [(none, 1), (relu, 2)] {
                        let want = reference(&g, &x, &wt, &bias, post);
                        let conv = Conv::dense(
                            g.clone(),
                            wt.clone(),
                            Some(bias.clone()),
                            threads,
                            Some(post),
                            transpose,
                            isa,
                            (false, false),
                        );
                        let layout = match conv.dense {
                            Dense::Direct => "direct",
                            Dense::Wide { .. } => "wide",
                            Dense::Im2col => "im2col",
                            Dense::Nhwc { .. } => "channels-last",
                        };
                        let orientation = match (conv.transposed.is_empty(), conv.pixels.is_empty())
                        {
                            (true, _) => "plain",
                            (false, true) => "transposed, Aᵀ packed",
                            (false, false) => "transposed, Aᵀ in place",
                        };
                        let split = if conv.split.is_some() { ", split" } else { "" };
                        seen.insert(format!("{layout}, {orientation}{split}"));
                        let pool = crate::pool::Pool::new(threads).unwrap();
                        // Sparse weights (every third zeroed) on the same B sources.
                        let mut wz = wt.clone();
                        wz.iter_mut().step_by(3).for_each(|v| *v = 0.0);
                        let want_z = reference(&g, &x, &wz, &bias, post);
                        let mut sparse = Conv::dense(
                            g.clone(),
                            wz,
                            Some(bias.clone()),
                            threads,
                            Some(post),
                            transpose,
                            isa,
                            (false, false),
                        );
                        sparse.sparse = Some(sparse.compressed());
                        let mut y = vec![f32::NAN; want.len()];
                        pool.install(|| sparse.sample(&x, &mut y, threads, true));
                        for (j, (a, b)) in y.iter().zip(&want_z).enumerate() {
                            assert!(
                                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                                "case {i} sparse {:?} at {j}: {a} vs {b}",
                                conv.dense
                            );
                        }
                        // Twice: the second run reuses the scratch of the first, the first
                        // the scratch another convolution left full of NaN (as a convolution of
                        // another shape leaves it anything): padding read as anything but zero
                        // fails.
                        for run in 0..2 {
                            if run == 0 {
                                poison_scratch();
                            }
                            let mut y = vec![f32::NAN; want.len()];
                            pool.install(|| conv.sample(&x, &mut y, threads, false));
                            for (j, (a, b)) in y.iter().zip(&want).enumerate() {
                                assert!(
                                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                                    "case {i} {:?} {isa:?} transpose {transpose:?} run {run} \
                                     at {j}: {a} vs {b}",
                                    conv.dense
                                );
                            }
                        }
                    }
                }
            }
        }
        // Direct, wide and im2col plain; transposed, 1×1 (direct) packing Aᵀ, and wider
        // kernels (wide rows) reading it in place, an im2col never built for them.
        let want = [
            "direct, plain",
            "wide, plain",
            "im2col, plain",
            "direct, transposed, Aᵀ packed",
            "wide, transposed, Aᵀ in place",
        ];
        let avx512 = Isa::available().contains(&Isa::Avx512);
        // Reducing 1×1 convolutions on two threads, split by input channels.
        let split = [
            "direct, plain, split",
            "direct, transposed, Aᵀ in place, split",
        ];
        let in_place_1x1 = avx512.then_some("direct, transposed, Aᵀ in place");
        let split = &split[..if avx512 { 2 } else { 1 }];
        for w in want
            .into_iter()
            .chain(in_place_1x1)
            .chain(split.iter().copied())
        {
            assert!(seen.contains(w), "{w} not covered: {seen:?}");
        }
    }
}
