//! Logistic regression solved full-batch by L-BFGS, to the optimum scikit-learn's
//! `LogisticRegression(C=c, solver="lbfgs")` reaches.
//!
//! The objective is scikit-learn's:
//!
//! ```text
//! f(W, b) = mean over rows of the log-loss  +  ||W||² / (2 · C · n)
//! ```
//!
//! with the intercepts not penalised. Two classes have one coefficient vector (class 1 against
//! class 0, a sigmoid), more have one per class (a softmax). The loss and its gradient are one
//! pass over the rows in `f64`; unless nearly every feature is set, only the non-zero ones are
//! read, so a one-hot or TF-IDF matrix costs what its set entries cost. The iteration is L-BFGS with ten correction pairs and a line search
//! that meets the strong Wolfe conditions; it stops, as scipy's does for scikit-learn, when the
//! largest gradient entry is at most `tol`, when the loss stops falling (relative change below
//! 64 ε), or after `max_iter` iterations.

use crate::features::Matrix;

/// Correction pairs kept (scipy's `maxcor`).
const MEMORY: usize = 10;
/// Line-search trials per iteration (scikit-learn's `maxls`).
const MAX_LINE_SEARCH: usize = 50;
/// Sufficient decrease and curvature constants of the strong Wolfe conditions (scipy's
/// L-BFGS-B uses these).
const C1: f64 = 1e-3;
const C2: f64 = 0.9;

/// What the solver is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogregSettings {
    /// The inverse L2 strength, as scikit-learn's `C`.
    pub c: f64,
    /// The largest gradient entry at which the solver stops.
    pub tol: f64,
    pub max_iter: usize,
}

/// A solved logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub struct LogregFit {
    /// The coefficients, one row of `inputs` values per class: `classes` rows.
    pub coef: Vec<Vec<f64>>,
    /// One intercept per class.
    pub intercept: Vec<f64>,
    /// Iterations taken.
    pub iterations: usize,
    /// Whether the gradient fell to `tol` (or the loss stopped falling) before `max_iter`.
    pub converged: bool,
    /// The objective at the solution.
    pub objective: f64,
}

/// Why the solver stopped early: the callback asked it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// The features in `f64`: dense rows, or only the non-zero entries where many are zero
/// (one-hot categories, TF-IDF).
enum Rows {
    Dense {
        cols: usize,
        values: Vec<f64>,
    },
    Sparse {
        starts: Vec<usize>,
        columns: Vec<u32>,
        values: Vec<f64>,
    },
}

/// One row of [`Rows`].
enum Row<'a> {
    Dense(&'a [f64]),
    Sparse(&'a [u32], &'a [f64]),
}

impl Rows {
    fn new(x: &Matrix) -> Rows {
        let nonzero = x.data.iter().filter(|v| **v != 0.0).count();
        // One-hot columns leave most rows half empty; reading only the non-zero entries pays
        // off until about three in four are set.
        if nonzero * 4 >= x.data.len() * 3 {
            return Rows::Dense {
                cols: x.cols,
                values: x.data.iter().map(|&v| f64::from(v)).collect(),
            };
        }
        let mut starts = Vec::with_capacity(x.rows + 1);
        let mut columns = Vec::with_capacity(nonzero);
        let mut values = Vec::with_capacity(nonzero);
        starts.push(0);
        for r in 0..x.rows {
            for (j, &v) in x.row(r).iter().enumerate() {
                if v != 0.0 {
                    columns.push(j as u32);
                    values.push(f64::from(v));
                }
            }
            starts.push(columns.len());
        }
        Rows::Sparse {
            starts,
            columns,
            values,
        }
    }

    fn row(&self, r: usize) -> Row<'_> {
        match self {
            Rows::Dense { cols, values } => Row::Dense(&values[r * cols..(r + 1) * cols]),
            Rows::Sparse {
                starts,
                columns,
                values,
            } => {
                let (a, b) = (starts[r], starts[r + 1]);
                Row::Sparse(&columns[a..b], &values[a..b])
            }
        }
    }
}

impl Row<'_> {
    /// `w · x`.
    fn dot(&self, w: &[f64]) -> f64 {
        match self {
            Row::Dense(x) => dot(w, x),
            Row::Sparse(columns, values) => columns
                .iter()
                .zip(*values)
                .map(|(&j, &v)| w[j as usize] * v)
                .sum(),
        }
    }

    /// `g += a · x`.
    fn add_to(&self, a: f64, g: &mut [f64]) {
        match self {
            Row::Dense(x) => axpy(a, x, g),
            Row::Sparse(columns, values) => {
                for (&j, &v) in columns.iter().zip(*values) {
                    g[j as usize] += a * v;
                }
            }
        }
    }
}

/// The objective over a fixed training set. Parameters are laid out as `k` blocks of `d`
/// coefficients, then `k` intercepts, with `k = 1` for two classes.
struct Problem<'a> {
    rows: Rows,
    y: &'a [usize],
    d: usize,
    k: usize,
    /// `1 / (C · n)`.
    l2: f64,
}

impl Problem<'_> {
    fn len(&self) -> usize {
        self.k * (self.d + 1)
    }

    /// The objective and its gradient at `w`.
    fn evaluate(&self, w: &[f64], grad: &mut [f64]) -> f64 {
        let (d, k) = (self.d, self.k);
        let n = self.y.len();
        grad.iter_mut().for_each(|g| *g = 0.0);
        let (coef, intercept) = w.split_at(k * d);
        let mut loss = 0.0;
        let mut z = vec![0.0; k];
        let mut residual = vec![0.0; k];
        for (r, &label) in self.y.iter().enumerate() {
            let row = self.rows.row(r);
            for (c, zc) in z.iter_mut().enumerate() {
                *zc = intercept[c] + row.dot(&coef[c * d..(c + 1) * d]);
            }
            if k == 1 {
                // log(1 + e^z) - y z, and its derivative sigmoid(z) - y.
                let t = z[0];
                let y = if label == 1 { 1.0 } else { 0.0 };
                let softplus = if t > 0.0 {
                    t + (-t).exp().ln_1p()
                } else {
                    t.exp().ln_1p()
                };
                loss += softplus - y * t;
                let p = if t >= 0.0 {
                    1.0 / (1.0 + (-t).exp())
                } else {
                    let e = t.exp();
                    e / (1.0 + e)
                };
                residual[0] = p - y;
            } else {
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|&v| (v - max).exp()).sum();
                let log_sum = max + sum.ln();
                loss += log_sum - z[label];
                for (c, res) in residual.iter_mut().enumerate() {
                    *res = (z[c] - log_sum).exp() - if c == label { 1.0 } else { 0.0 };
                }
            }
            for (c, &res) in residual.iter().enumerate() {
                row.add_to(res, &mut grad[c * d..(c + 1) * d]);
                grad[k * d + c] += res;
            }
        }
        let inv_n = 1.0 / n as f64;
        let mut penalty = 0.0;
        for (i, g) in grad.iter_mut().enumerate() {
            *g *= inv_n;
            if i < k * d {
                *g += self.l2 * w[i];
                penalty += w[i] * w[i];
            }
        }
        loss * inv_n + 0.5 * self.l2 * penalty
    }
}

/// Solves the logistic regression of `y` (class indices below `classes`) on `x`. `progress` is
/// called after each iteration with its number and the objective; returning `false` stops the
/// solver.
pub fn fit_logreg(
    x: &Matrix,
    y: &[usize],
    classes: usize,
    settings: &LogregSettings,
    mut progress: impl FnMut(usize, f64) -> bool,
) -> Result<LogregFit, Stopped> {
    let k = if classes <= 2 { 1 } else { classes };
    let problem = Problem {
        rows: Rows::new(x),
        y,
        d: x.cols,
        k,
        l2: 1.0 / (settings.c * y.len().max(1) as f64),
    };
    let len = problem.len();
    let mut w = vec![0.0; len];
    let mut g = vec![0.0; len];
    let mut f = problem.evaluate(&w, &mut g);
    let mut pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::with_capacity(MEMORY);
    let mut iterations = 0;
    let mut converged = max_abs(&g) <= settings.tol;
    let mut w_new = vec![0.0; len];
    let mut g_new = vec![0.0; len];
    while !converged && iterations < settings.max_iter {
        let mut direction = two_loop(&g, &pairs);
        let mut slope = dot(&g, &direction);
        if slope >= 0.0 {
            // Not a descent direction (curvature lost to rounding): restart from the gradient.
            pairs.clear();
            direction = g.iter().map(|v| -v).collect();
            slope = dot(&g, &direction);
        }
        // The first step, along the gradient, is 1/|g| long, as in scipy.
        let first = if pairs.is_empty() {
            1.0 / norm(&g)
        } else {
            1.0
        };
        let mut found = line_search(
            &problem, &w, f, slope, &direction, first, &mut w_new, &mut g_new,
        );
        if found.is_none() && !pairs.is_empty() {
            // The curvature pairs led nowhere: forget them and try along the gradient, as
            // scipy does.
            pairs.clear();
            direction = g.iter().map(|v| -v).collect();
            slope = dot(&g, &direction);
            let first = 1.0 / norm(&g);
            found = line_search(
                &problem, &w, f, slope, &direction, first, &mut w_new, &mut g_new,
            );
        }
        let Some((step, f_new)) = found else {
            // No step lowers the objective even along the gradient: stop where it is,
            // converged only if the gradient says so.
            converged = max_abs(&g) <= settings.tol;
            break;
        };
        let s: Vec<f64> = direction.iter().map(|v| v * step).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &yv);
        if sy > f64::EPSILON * dot(&yv, &yv) {
            if pairs.len() == MEMORY {
                pairs.pop_front();
            }
            pairs.push_back((s, yv, 1.0 / sy));
        }
        let relative = (f - f_new) / f.abs().max(f_new.abs()).max(1.0);
        std::mem::swap(&mut w, &mut w_new);
        std::mem::swap(&mut g, &mut g_new);
        f = f_new;
        iterations += 1;
        if !progress(iterations, f) {
            return Err(Stopped);
        }
        converged = max_abs(&g) <= settings.tol || relative <= 64.0 * f64::EPSILON;
    }
    let d = problem.d;
    let (coef, intercept) = w.split_at(k * d);
    let (coef, intercept) = if k == 1 {
        // Class 0's logit is held at 0, so the softmax over (0, z) is the sigmoid of z.
        (vec![vec![0.0; d], coef.to_vec()], vec![0.0, intercept[0]])
    } else {
        (
            coef.chunks(d.max(1)).map(<[f64]>::to_vec).collect(),
            intercept.to_vec(),
        )
    };
    Ok(LogregFit {
        coef,
        intercept,
        iterations,
        converged,
        objective: f,
    })
}

/// The L-BFGS direction `-H g`, by the two-loop recursion, with the initial Hessian scaled by
/// the newest pair's `s·y / y·y`.
fn two_loop(g: &[f64], pairs: &std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q: Vec<f64> = g.to_vec();
    let mut alphas = Vec::with_capacity(pairs.len());
    for (s, y, rho) in pairs.iter().rev() {
        let alpha = rho * dot(s, &q);
        axpy(-alpha, y, &mut q);
        alphas.push(alpha);
    }
    if let Some((_, y, rho)) = pairs.back() {
        let gamma = 1.0 / (rho * dot(y, y));
        q.iter_mut().for_each(|v| *v *= gamma);
    }
    for ((s, y, rho), alpha) in pairs.iter().zip(alphas.into_iter().rev()) {
        let beta = rho * dot(y, &q);
        axpy(alpha - beta, s, &mut q);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// A step along `direction` that meets the strong Wolfe conditions (Nocedal and Wright,
/// algorithms 3.5 and 3.6, with cubic interpolation), or `None` when none lowers the objective.
/// On success `w_new` and `g_new` hold the point reached and its gradient.
#[allow(clippy::too_many_arguments)]
fn line_search(
    problem: &Problem,
    w: &[f64],
    f0: f64,
    slope0: f64,
    direction: &[f64],
    first: f64,
    w_new: &mut [f64],
    g_new: &mut [f64],
) -> Option<(f64, f64)> {
    let mut probe = |step: f64, w_new: &mut [f64], g_new: &mut [f64]| -> (f64, f64) {
        for ((out, &a), &p) in w_new.iter_mut().zip(w).zip(direction) {
            *out = a + step * p;
        }
        let f = problem.evaluate(w_new, g_new);
        (f, dot(g_new, direction))
    };
    let mut previous = (0.0, f0, slope0);
    let mut step = first;
    let mut best: Option<(f64, f64)> = None;
    for trial in 0..MAX_LINE_SEARCH {
        let (f, slope) = probe(step, w_new, g_new);
        if f < f0 && best.is_none_or(|(_, fb)| f < fb) {
            best = Some((step, f));
        }
        if f > f0 + C1 * step * slope0 || (trial > 0 && f >= previous.1) {
            return zoom(
                &mut probe,
                f0,
                slope0,
                previous,
                (step, f, slope),
                w_new,
                g_new,
            )
            .or_else(|| settle(&mut probe, best, w_new, g_new));
        }
        if slope.abs() <= -C2 * slope0 {
            return Some((step, f));
        }
        if slope >= 0.0 {
            return zoom(
                &mut probe,
                f0,
                slope0,
                (step, f, slope),
                previous,
                w_new,
                g_new,
            )
            .or_else(|| settle(&mut probe, best, w_new, g_new));
        }
        previous = (step, f, slope);
        step *= 2.0;
    }
    settle(&mut probe, best, w_new, g_new)
}

/// Falls back on the lowest point seen, recomputing it into `w_new` and `g_new`.
fn settle(
    probe: &mut impl FnMut(f64, &mut [f64], &mut [f64]) -> (f64, f64),
    best: Option<(f64, f64)>,
    w_new: &mut [f64],
    g_new: &mut [f64],
) -> Option<(f64, f64)> {
    let (step, _) = best?;
    let (f, _) = probe(step, w_new, g_new);
    Some((step, f))
}

/// Narrows the bracket between `lo` and `hi` (each `(step, f, slope)`, `lo` the lower) to a step
/// meeting the strong Wolfe conditions.
#[allow(clippy::too_many_arguments)]
fn zoom(
    probe: &mut impl FnMut(f64, &mut [f64], &mut [f64]) -> (f64, f64),
    f0: f64,
    slope0: f64,
    mut lo: (f64, f64, f64),
    mut hi: (f64, f64, f64),
    w_new: &mut [f64],
    g_new: &mut [f64],
) -> Option<(f64, f64)> {
    for _ in 0..MAX_LINE_SEARCH {
        let step = cubic_minimum(lo, hi);
        let (f, slope) = probe(step, w_new, g_new);
        if f > f0 + C1 * step * slope0 || f >= lo.1 {
            hi = (step, f, slope);
        } else {
            if slope.abs() <= -C2 * slope0 {
                return Some((step, f));
            }
            if slope * (hi.0 - lo.0) >= 0.0 {
                hi = lo;
            }
            lo = (step, f, slope);
        }
        if (hi.0 - lo.0).abs() <= f64::EPSILON * lo.0.abs().max(1.0) {
            break;
        }
    }
    // No step met both conditions; the lower end of the bracket, if it moved, still lowered
    // the objective enough.
    if lo.0 > 0.0 {
        let (f, _) = probe(lo.0, w_new, g_new);
        return Some((lo.0, f));
    }
    None
}

/// The minimiser of the cubic through two points with their slopes, kept inside the middle 80 %
/// of the interval (bisection when the cubic gives nothing usable).
fn cubic_minimum(a: (f64, f64, f64), b: (f64, f64, f64)) -> f64 {
    let (x0, f0, g0) = a;
    let (x1, f1, g1) = b;
    let (left, right) = (x0.min(x1), x0.max(x1));
    let width = right - left;
    let d1 = g0 + g1 - 3.0 * (f0 - f1) / (x0 - x1);
    let radicand = d1 * d1 - g0 * g1;
    let candidate = if radicand >= 0.0 {
        let d2 = (x1 - x0).signum() * radicand.sqrt();
        x1 - (x1 - x0) * (g1 + d2 - d1) / (g1 - g0 + 2.0 * d2)
    } else {
        f64::NAN
    };
    if candidate.is_finite() {
        candidate.clamp(left + 0.1 * width, right - 0.1 * width)
    } else {
        left + 0.5 * width
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (out, v) in y.iter_mut().zip(x) {
        *out += alpha * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[f32]]) -> Matrix {
        Matrix {
            rows: rows.len(),
            cols: rows[0].len(),
            data: rows.iter().flat_map(|r| r.iter().copied()).collect(),
        }
    }

    /// Central differences of the objective agree with its gradient.
    #[test]
    fn the_gradient_is_the_objectives() {
        let dense = matrix(&[&[1.0, 0.5], &[-0.3, 2.0], &[0.7, -1.1], &[0.0, 0.4]]);
        let sparse = matrix(&[
            &[1.0, 0.0, 0.0, 0.0, 0.0],
            &[0.0, 2.0, 0.0, 0.0, 0.0],
            &[0.0, 0.0, 0.0, -3.0, 0.0],
            &[0.0, 0.0, 0.0, 0.0, 0.5],
        ]);
        // Half set: read sparse.
        assert!(matches!(
            Rows::new(&matrix(&[&[1.0, 0.0], &[0.0, 1.0]])),
            Rows::Sparse { .. }
        ));
        assert!(matches!(Rows::new(&dense), Rows::Dense { .. }));
        assert!(matches!(Rows::new(&sparse), Rows::Sparse { .. }));
        let cases = [(vec![0, 1, 1, 0], 1), (vec![0, 2, 1, 2], 3)];
        for (x, (y, k)) in [&dense, &sparse]
            .into_iter()
            .flat_map(|x| cases.iter().map(move |c| (x, c)))
        {
            let (y, k) = (y.clone(), *k);
            let problem = Problem {
                rows: Rows::new(x),
                y: &y,
                d: x.cols,
                k,
                l2: 0.3,
            };
            let w: Vec<f64> = (0..problem.len()).map(|i| 0.1 * i as f64 - 0.2).collect();
            let mut g = vec![0.0; w.len()];
            problem.evaluate(&w, &mut g);
            let mut scratch = vec![0.0; w.len()];
            for i in 0..w.len() {
                let (mut up, mut down) = (w.clone(), w.clone());
                up[i] += 1e-6;
                down[i] -= 1e-6;
                let numeric = (problem.evaluate(&up, &mut scratch)
                    - problem.evaluate(&down, &mut scratch))
                    / 2e-6;
                assert!(
                    (numeric - g[i]).abs() < 1e-7,
                    "entry {i}: {numeric} against {}",
                    g[i]
                );
            }
        }
    }

    /// At the solution the gradient vanishes: the penalised coefficients balance the data.
    #[test]
    fn it_stops_where_the_gradient_vanishes() {
        let x = matrix(&[
            &[0.0, 1.0],
            &[1.0, 0.2],
            &[2.0, -0.5],
            &[3.0, 0.1],
            &[0.5, 2.0],
            &[2.5, 1.5],
        ]);
        let y = [0, 0, 1, 1, 2, 2];
        let settings = LogregSettings {
            c: 2.0,
            tol: 1e-10,
            max_iter: 500,
        };
        let fit = fit_logreg(&x, &y, 3, &settings, |_, _| true).expect("solved");
        assert!(fit.converged);
        // Without the penalty's pull the classes' coefficients would not sum to zero.
        for j in 0..2 {
            let total: f64 = fit.coef.iter().map(|c| c[j]).sum();
            assert!(total.abs() < 1e-8, "{total}");
        }
        let problem = Problem {
            rows: Rows::new(&x),
            y: &y,
            d: 2,
            k: 3,
            l2: 1.0 / (2.0 * 6.0),
        };
        let mut w: Vec<f64> = fit.coef.concat();
        w.extend(&fit.intercept);
        let mut g = vec![0.0; w.len()];
        let objective = problem.evaluate(&w, &mut g);
        // Stopped by the gradient, or where the objective no longer falls within rounding.
        assert!(max_abs(&g) <= 1e-8, "{g:?}");
        assert!((objective - fit.objective).abs() < 1e-12);
    }

    #[test]
    fn a_callback_can_stop_it() {
        let x = matrix(&[&[0.0], &[1.0], &[2.0], &[3.0]]);
        let settings = LogregSettings {
            c: 1.0,
            tol: 1e-12,
            max_iter: 100,
        };
        assert_eq!(
            fit_logreg(&x, &[0, 0, 1, 1], 2, &settings, |_, _| false),
            Err(Stopped)
        );
    }
}
