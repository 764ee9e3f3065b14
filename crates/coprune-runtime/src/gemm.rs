//! Safe wrapper over the `gemm` crate's f32 matrix multiply (≈95 GFLOP/s per core here,
//! DEPENDENCIES.md). The one `unsafe` call in the runtime lives here, behind bounds checks.
#![allow(unsafe_code)]

use gemm::Parallelism;

/// A row-major matrix view: element (i, j) at `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose (no copy).
    pub fn t(self) -> MatRef<'a> {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `c = a × b` (overwriting `c`, row-major `a.rows × b.cols`) or `c += a × b` when `accumulate`.
/// Panics on mismatched shapes: callers size everything from inferred shapes.
pub fn matmul(a: MatRef, b: MatRef, c: &mut [f32], accumulate: bool, threads: usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    assert!(a.fits() && b.fits(), "matrix views out of bounds");
    assert!(c.len() >= m * n, "output too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let par = if threads > 1 && m * n * k >= 1 << 16 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: every index the kernel touches is < len of its slice: checked by `fits` for a and
    // b, and c is m×n row-major with c.len() ≥ m·n; the slices do not alias (c is &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 3) as f32 * 0.5).collect();
        let mut c = vec![0.0; m * n];
        matmul(
            MatRef::new(&a, m, k),
            MatRef::new(&b, k, n),
            &mut c,
            false,
            1,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((c[i * n + j] - want).abs() < 1e-5);
            }
        }
        // Transposed b: bt is n×k.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut c2 = vec![0.0; m * n];
        matmul(
            MatRef::new(&a, m, k),
            MatRef::new(&bt, n, k).t(),
            &mut c2,
            false,
            1,
        );
        assert_eq!(c, c2);
    }
}
