//! Inline SVG plots for the report: stacked horizontal bars and folio page maps. Every plot
//! is an `<svg class="plot" data-plot=KIND>` element with `<title>` tooltips; no script.

use std::fmt::Write;

/// Text escaped for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar: a label and its segments, in the order of the series.
pub struct Bar {
    pub label: String,
    pub values: Vec<u64>,
}

/// A stacked horizontal bar chart: one bar per row, one colour per series, a legend and
/// each bar's total at its end.
pub struct Stacked<'a> {
    pub kind: &'a str,
    pub series: &'a [(&'a str, &'a str)],
    pub bars: &'a [Bar],
}

const LABEL_W: u32 = 150;
const PLOT_W: u32 = 520;
const ROW_H: u32 = 22;

impl Stacked<'_> {
    pub fn render(&self) -> String {
        let max = self
            .bars
            .iter()
            .map(|b| b.values.iter().sum::<u64>())
            .max()
            .unwrap_or(0)
            .max(1);
        let legend_h = 24;
        let height = legend_h + ROW_H * self.bars.len() as u32 + 8;
        let width = (LABEL_W + PLOT_W + 90).max(self.legend_end());
        let mut s = format!(
            "<svg class=\"plot\" data-plot=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" \
             width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">",
            esc(self.kind)
        );
        self.legend(&mut s);
        for (i, bar) in self.bars.iter().enumerate() {
            let y = legend_h + ROW_H * i as u32;
            self.bar(&mut s, bar, y, max);
        }
        s.push_str("</svg>");
        s
    }

    fn legend_end(&self) -> u32 {
        LABEL_W
            + self
                .series
                .iter()
                .map(|(n, _)| 24 + 7 * n.len() as u32)
                .sum::<u32>()
    }

    fn legend(&self, s: &mut String) {
        let mut x = LABEL_W;
        for (name, colour) in self.series {
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
                 <text x=\"{}\" y=\"14\" font-size=\"12\">{}</text>",
                x + 16,
                esc(name)
            );
            x += 24 + 7 * name.len() as u32;
        }
    }

    fn bar(&self, s: &mut String, bar: &Bar, y: u32, max: u64) {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            LABEL_W - 6,
            y + 15,
            esc(&bar.label)
        );
        let mut x = f64::from(LABEL_W);
        for ((name, colour), v) in self.series.iter().zip(&bar.values) {
            if *v == 0 {
                continue;
            }
            let w = f64::from(PLOT_W) * *v as f64 / max as f64;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\">\
                 <title>{}: {} {v}</title></rect>",
                y + 3,
                w.max(1.0),
                ROW_H - 6,
                esc(&bar.label),
                esc(name)
            );
            x += w;
        }
        let total: u64 = bar.values.iter().sum();
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{total}</text>",
            x + 4.0,
            y + 15
        );
    }
}

/// How one process maps one page of a folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub pmd: bool,
    pub exclusive: bool,
    pub mapcount: Option<u64>,
}

pub const PTE_EXCL: &str = "#1f77b4";
pub const PTE_SHARED: &str = "#9ecae1";
pub const PMD_EXCL: &str = "#7b3294";
pub const PMD_SHARED: &str = "#c2a5cf";
const UNMAPPED: &str = "#e8e8e8";

/// The legend of the folio maps, once per page.
pub fn folio_legend() -> String {
    let items = [
        (PTE_EXCL, "PTE, exclusive"),
        (PTE_SHARED, "PTE, shared"),
        (PMD_EXCL, "PMD, exclusive"),
        (PMD_SHARED, "PMD, shared"),
        (UNMAPPED, "not mapped by this process"),
    ];
    let mut s = String::from(
        "<svg class=\"legend\" xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"22\">",
    );
    let mut x = 0;
    for (colour, name) in items {
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"14\" font-size=\"12\">{name}</text>",
            x + 16
        );
        x += 30 + 7 * name.len() as u32;
    }
    s.push_str("</svg>");
    s
}

/// The map of one folio's pages: one band per process that maps any of them, one cell
/// per page (32 to a row, 64 for folios over 64 pages).
pub fn folio_map(title: &str, nr_pages: u64, procs: &[(String, Vec<Option<Cell>>)]) -> String {
    // Small folios in big cells; a PMD-sized one in 64 columns of small ones.
    let (cols, px) = if nr_pages > 64 { (64, 8) } else { (32, 14) };
    const NAME_W: u64 = 60;
    let rows = nr_pages.div_ceil(cols).max(1);
    let band_h = rows * px + 6;
    let width = NAME_W + cols.min(nr_pages.max(1)) * px + 4;
    let height = band_h * procs.len() as u64 + 4;
    let mut s = format!(
        "<svg class=\"plot\" data-plot=\"folio\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" role=\"img\"><title>{}</title>",
        esc(title)
    );
    for (band, (proc, cells)) in procs.iter().enumerate() {
        let top = band as u64 * band_h + 2;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
            top + px.min(rows * px) - 2,
            esc(proc)
        );
        for (i, cell) in cells.iter().enumerate() {
            let i = i as u64;
            let (x, y) = (NAME_W + (i % cols) * px, top + (i / cols) * px);
            let (colour, what) = match cell {
                None => (UNMAPPED, "not mapped".to_string()),
                Some(c) => cell_colour(c),
            };
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{colour}\">\
                 <title>{} page {i}: {what}</title></rect>",
                px - 1,
                px - 1,
                esc(proc)
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn cell_colour(c: &Cell) -> (&'static str, String) {
    let colour = match (c.pmd, c.exclusive) {
        (false, true) => PTE_EXCL,
        (false, false) => PTE_SHARED,
        (true, true) => PMD_EXCL,
        (true, false) => PMD_SHARED,
    };
    let what = format!(
        "{}, {}, kpagecount {}",
        if c.pmd { "PMD" } else { "PTE" },
        if c.exclusive { "exclusive" } else { "shared" },
        c.mapcount.map_or("?".into(), |m| m.to_string())
    );
    (colour, what)
}
