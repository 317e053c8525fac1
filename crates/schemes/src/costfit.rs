//! The published runtimes the cost model ([`crate::costmodel`]) is fitted to and checked
//! against, and the fit: non-negative least squares by coordinate descent (deterministic,
//! a fixed number of sweeps). All figures: Intel Xeon Silver 4210R, 1 GiB of PTE-mapped
//! folios of one size, David Hildenbrand's `pte-mapped-folio-benchmarks.c`.

use crate::costmodel::{counts, paths, predict, Op, Paths, LINUX_6_11, LINUX_6_9, ORDERS};
use foliolab_types::Order;

/// What a published figure is.
#[derive(Clone, Copy, Debug)]
pub enum Figure {
    /// Seconds for 1 GiB, per size of [`ORDERS`].
    Seconds([f64; 9]),
    /// Runtime change in percent against the base, per size of [`ORDERS`] (`NaN`: not
    /// published at that size).
    Percent([f64; 9]),
}

/// One published series: the kernel measured, the base for a percent, the source.
#[derive(Clone, Copy, Debug)]
pub struct Series {
    pub what: &'static str,
    pub op: Op,
    pub paths: fn() -> Paths,
    pub base: Option<fn() -> Paths>,
    pub figure: Figure,
    /// Used in the fit (otherwise a prediction checked against it).
    pub fitted: bool,
    pub source: &'static str,
}

const N: f64 = f64::NAN;

fn pre_batching() -> Paths {
    Paths {
        name: "linux-6.8",
        ..paths("linux-6.5").expect("registered")
    }
}
fn v6_9() -> Paths {
    LINUX_6_9
}
fn v6_11() -> Paths {
    LINUX_6_11
}
fn v6_11_per_page() -> Paths {
    Paths {
        name: "linux-6.11 (per-page _nr_pages_mapped)",
        nr_pages_mapped: crate::costmodel::NrPagesMapped::PerPage,
        ..LINUX_6_11
    }
}
fn npm() -> Paths {
    paths("linux-6.18-npm").expect("registered")
}
fn mm_id() -> Paths {
    paths("linux-6.18").expect("registered")
}
fn rmap_id() -> Paths {
    paths("rmap-id").expect("registered")
}

const FORK_BATCHING: &str = "lore:20240129124649.189745-1-david@redhat.com";
const ZAP_BATCHING: &str = "lore:20240214204435.167852-1-david@redhat.com";
const MM_ID: &str = "lore:20240829165627.2256514-1-david@redhat.com";
const NR_PAGES_MAPPED: &str = "lore:20240807115515.1640951-1-david@redhat.com";
const RMAP_ID: &str = "lore:20231124132626.235350-1-david@redhat.com";

/// A fitted series: `figure` is seconds per GiB (no `base`) or changes against `base`.
const fn series(
    what: &'static str,
    op: Op,
    paths: fn() -> Paths,
    base: Option<fn() -> Paths>,
    figure: Figure,
    source: &'static str,
) -> Series {
    Series {
        what,
        op,
        paths,
        base,
        figure,
        fitted: true,
        source,
    }
}

/// `s` held out of the fit: a prediction checked against it.
const fn held_out(s: Series) -> Series {
    Series { fitted: false, ..s }
}

/// Every published series, the fitted ones first.
pub const PUBLISHED: &[Series] = &[
    series(
        "fork, 6.8 (per page)",
        Op::Fork,
        pre_batching,
        None,
        Figure::Seconds([
            0.014328, 0.014263, 0.014334, 0.014046, 0.014011, 0.013993, 0.013983, 0.013986,
            0.014305,
        ]),
        FORK_BATCHING,
    ),
    series(
        "fork, 6.9 (PTE batching)",
        Op::Fork,
        v6_9,
        None,
        Figure::Seconds([
            0.014035, 0.01196, 0.01094, 0.010444, 0.010063, 0.009938, 0.00985, 0.00982, 0.010076,
        ]),
        FORK_BATCHING,
    ),
    series(
        "munmap, 6.8 (per page)",
        Op::Munmap,
        pre_batching,
        None,
        Figure::Seconds([
            0.058110, 0.044198, 0.034216, 0.029207, 0.026579, 0.025130, 0.024292, 0.023812,
            0.023785,
        ]),
        ZAP_BATCHING,
    ),
    series(
        "munmap, 6.9 (PTE batching)",
        Op::Munmap,
        v6_9,
        None,
        Figure::Seconds([
            0.057715, 0.035469, 0.023522, 0.018434, 0.014026, 0.011756, 0.010703, 0.010294,
            0.009910,
        ]),
        ZAP_BATCHING,
    ),
    series(
        "fork, NO_PAGE_MAPCOUNT vs 6.11",
        Op::Fork,
        npm,
        Some(v6_11),
        Figure::Percent([N, -9.0, -12.0, -15.0, -15.0, -16.0, -16.0, -17.0, -21.0]),
        MM_ID,
    ),
    series(
        "munmap, NO_PAGE_MAPCOUNT vs 6.11",
        Op::Munmap,
        npm,
        Some(v6_11),
        Figure::Percent([N, -8.0, -9.0, -16.0, -17.0, -23.0, -26.0, -29.0, -31.0]),
        MM_ID,
    ),
    series(
        "munmap, per-batch _nr_pages_mapped",
        Op::Munmap,
        v6_11,
        Some(v6_11_per_page),
        Figure::Percent([N, -9.1, -13.0, -14.5, -17.4, -18.0, -18.0, -18.7, -21.3]),
        NR_PAGES_MAPPED,
    ),
    held_out(series(
        "fork, MM_ID vs 6.11",
        Op::Fork,
        mm_id,
        Some(v6_11),
        Figure::Percent([N, 4.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]),
        MM_ID,
    )),
    held_out(series(
        "munmap, MM_ID vs 6.11",
        Op::Munmap,
        mm_id,
        Some(v6_11),
        Figure::Percent([N, 2.0, 3.0, 4.0, 3.0, 1.0, 1.0, 0.0, 0.0]),
        MM_ID,
    )),
    held_out(series(
        "fork, rmap-id (all optimisations) vs 6.7",
        Op::Fork,
        rmap_id,
        Some(pre_batching),
        Figure::Percent([N, N, N, N, N, N, N, N, 27.8]),
        RMAP_ID,
    )),
    held_out(series(
        "munmap, rmap-id (all optimisations) vs 6.7",
        Op::Munmap,
        rmap_id,
        Some(pre_batching),
        Figure::Percent([N, N, N, N, N, N, N, N, 1.0]),
        RMAP_ID,
    )),
    held_out(series(
        "fork, rmap-id unoptimised vs 6.7",
        Op::Fork,
        rmap_id,
        Some(pre_batching),
        Figure::Percent([N, N, N, N, N, N, N, N, 105.9]),
        RMAP_ID,
    )),
    held_out(series(
        "munmap, rmap-id unoptimised vs 6.7",
        Op::Munmap,
        rmap_id,
        Some(pre_batching),
        Figure::Percent([N, N, N, N, N, N, N, N, 48.8]),
        RMAP_ID,
    )),
];

/// [`PUBLISHED`] as a vector.
pub fn published() -> Vec<Series> {
    PUBLISHED.to_vec()
}

/// The time scale of a size's rows (the 6.9 runtime), so every row weighs alike.
fn scale(op: Op, i: usize) -> f64 {
    let all = published();
    let row = if op == Op::Fork { &all[1] } else { &all[3] };
    match row.figure {
        Figure::Seconds(t) => t[i] * 1e9,
        Figure::Percent(_) => unreachable!("6.9 rows are absolute"),
    }
}

/// One linear equation `a . w = b` per published figure of `s` (ns).
fn rows(s: &Series) -> Vec<([f64; 8], f64)> {
    let mut out = Vec::new();
    for (i, &o) in ORDERS.iter().enumerate() {
        let per_gib = |p: &Paths| {
            let folios = (1u64 << 18) as f64 / o.nr_pages() as f64;
            counts(p, s.op, o).map(|c| c * folios)
        };
        let mine = per_gib(&(s.paths)());
        match (s.figure, s.base) {
            (Figure::Seconds(t), _) => {
                let t = t[i] * 1e9;
                out.push((mine.map(|c| c / t), 1.0));
            }
            (Figure::Percent(p), Some(base)) if !p[i].is_nan() => {
                let b = per_gib(&base());
                let k = 1.0 + p[i] / 100.0;
                let sc = scale(s.op, i);
                let mut a = [0.0; 8];
                for j in 0..8 {
                    a[j] = (mine[j] - k * b[j]) / sc;
                }
                out.push((a, 0.0));
            }
            _ => {}
        }
    }
    out
}

/// The weights (ns per operation of each [`crate::costmodel::WORKS`] kind) that fit the
/// fitted series best with no negative weight.
pub fn fit() -> [f64; 8] {
    let eqs: Vec<([f64; 8], f64)> = published()
        .iter()
        .filter(|s| s.fitted)
        .flat_map(rows)
        .collect();
    let mut h = [[0.0; 8]; 8];
    let mut g = [0.0; 8];
    for (a, b) in &eqs {
        for j in 0..8 {
            g[j] += a[j] * b;
            for k in 0..8 {
                h[j][k] += a[j] * a[k];
            }
        }
    }
    let mut w = [0.0; 8];
    for _ in 0..20_000 {
        for j in 0..8 {
            if h[j][j] <= 0.0 {
                continue;
            }
            let grad: f64 = (0..8).map(|k| h[j][k] * w[k]).sum::<f64>() - g[j];
            w[j] = (w[j] - grad / h[j][j]).max(0.0);
        }
    }
    w
}

/// The percent change `s` predicts at size `i` with weights `w` (or, for an absolute
/// series, the predicted seconds).
pub fn predicted(s: &Series, i: usize, w: &[f64; 8]) -> f64 {
    let o = ORDERS[i];
    let mine = predict(&(s.paths)(), s.op, o, w);
    match s.base {
        None => mine / 1e9,
        Some(base) => (mine / predict(&base(), s.op, o, w) - 1.0) * 100.0,
    }
}

/// The published value of `s` at size `i` (seconds or percent; `NaN` if none).
pub fn published_value(s: &Series, i: usize) -> f64 {
    match s.figure {
        Figure::Seconds(t) => t[i],
        Figure::Percent(p) => p[i],
    }
}

/// Predicted runtime change of `design` against `base` at `order`, percent.
pub fn ratio(design: &Paths, base: &Paths, op: Op, order: Order, w: &[f64; 8]) -> f64 {
    (predict(design, op, order, w) / predict(base, op, order, w) - 1.0) * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::costmodel::{counts, paths, Op, ORDERS, WORKS};

    fn series(what: &str) -> Series {
        *published()
            .iter()
            .find(|s| s.what.starts_with(what))
            .expect(what)
    }

    /// NO_PAGE_MAPCOUNT's fork still clears PageAnonExclusive page by page: 512 atomics on
    /// tail `struct page`s per 2M folio (6.18: 1024 with `_mapcount`), not the handful of
    /// mapcount-field atomics alone.
    #[test]
    fn npm_fork_still_touches_every_page() {
        let at = |d: &str, op| counts(&paths(d).unwrap(), op, ORDERS[8]);
        let page_atomics = WORKS
            .iter()
            .position(|w| w.name() == "struct page atomic")
            .unwrap();
        assert_eq!(at("linux-6.18-npm", Op::Fork)[page_atomics], 512.0);
        assert_eq!(at("linux-6.18", Op::Fork)[page_atomics], 1024.0);
        assert_eq!(at("linux-6.18-npm", Op::Munmap)[page_atomics], 0.0);
        assert_eq!(
            at("linux-5.7", Op::Fork)[page_atomics],
            512.0,
            "no AnonExclusive"
        );
        // Before batching, one call (and refcount atomic) per page.
        assert_eq!(at("linux-6.5", Op::Munmap)[2], 512.0);
        assert_eq!(at("linux-6.14", Op::Munmap)[2], 1.0);
    }

    /// The fit reproduces the series it was fitted to within a few points, and predicts the
    /// held-out MM_ID series (not fitted) within 7 points at every size.
    #[test]
    fn fitted_and_held_out_series_agree_with_the_published_ones() {
        let w = fit();
        assert!(w.iter().all(|&x| x >= 0.0 && x.is_finite()));
        let within = |what: &str, points: f64| {
            let s = series(what);
            for i in 0..9 {
                let p = published_value(&s, i);
                if p.is_nan() {
                    continue;
                }
                let q = predicted(&s, i, &w);
                let diff = match s.figure {
                    Figure::Seconds(_) => (q / p - 1.0) * 100.0,
                    Figure::Percent(_) => q - p,
                };
                assert!(
                    diff.abs() <= points,
                    "{what} at {i}: published {p}, predicted {q}"
                );
            }
        };
        within("fork, 6.9", 8.0);
        within("fork, NO_PAGE_MAPCOUNT", 5.0);
        within("munmap, per-batch", 6.0);
        within("fork, MM_ID", 7.0);
        within("munmap, MM_ID", 7.0);
        within("fork, rmap-id unoptimised", 10.0);
    }

    #[test]
    fn the_fit_is_deterministic() {
        assert_eq!(fit(), fit());
    }
}
