//! `GlobalAveragePool`: the mean of each plane; the gradient spreads evenly over the plane.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

struct GlobalAveragePool {
    y: Vec<usize>,
}

/// Lowers `GlobalAveragePool`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Box::new(GlobalAveragePool { y: c.out_shape(0)? }))
}

impl GradKernel for GlobalAveragePool {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        let planes: usize = self.y.iter().product();
        let hw = xb.len() / planes.max(1);
        let y = xb
            .data
            .chunks(hw.max(1))
            .take(planes)
            .map(|p| p.iter().sum::<f32>() / hw as f32)
            .collect();
        Ok(Forward::one(Buf::new(self.y.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let mut r = vec![None; x.len()];
        if needs(need, 0) {
            let xb = input(x, 0)?;
            let hw = xb.len() / dy[0].len().max(1);
            let dx = dy[0]
                .data
                .iter()
                .flat_map(|&g| std::iter::repeat_n(g / hw as f32, hw))
                .collect();
            r[0] = Some(Buf::new(xb.shape.clone(), dx));
        }
        Ok(r)
    }
}
