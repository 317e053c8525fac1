//! `foliolab report` (issue 16 item 5): the page is self-contained (no script, nothing
//! fetched), and it has its plots: per design on every suite, per folio, per era. The page
//! is rendered in a real headless Chromium (Debian's `chromium`, installed by .ci/run):
//! the rendered DOM holds the plots and a screenshot shows their colours. The checks fail
//! when a plot is missing (the last test removes one and watches them fail).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_foliolab");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch file or directory in the temporary directory, removed when dropped: on every
/// exit path of a check (a failed check returns early, a failed assertion unwinds), so no
/// page, screenshot or browser profile is left behind.
struct Scratch(PathBuf);

impl Scratch {
    /// A fresh name: this process's id and a counter.
    fn new(stem: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("foliolab-report-{}-{n}-{stem}", std::process::id());
        Scratch(std::env::temp_dir().join(name))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// The built-in report, as `foliolab report -o FILE` writes it from the repository root.
fn built_in_report() -> String {
    let out = Scratch::new("report.html");
    let st = Command::new(BIN)
        .args(["report", "-o", out.path().to_str().unwrap()])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read_to_string(out.path()).unwrap()
}

/// Plots by kind (`data-plot`) in an HTML text.
fn plots(html: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for part in html.split("<svg class=\"plot\" data-plot=\"").skip(1) {
        let kind = part.split('"').next().unwrap_or("").to_string();
        *m.entry(kind).or_insert(0) += 1;
    }
    m
}

/// The plots the built-in report must have: a wrong-answer chart per built-in suite, folio
/// maps, the era chart.
fn check_plots(html: &str) -> Result<(), String> {
    let p = plots(html);
    let want = [("wrong-answers", 2), ("folio", 5), ("eras", 1)];
    for (kind, at_least) in want {
        let n = p.get(kind).copied().unwrap_or(0);
        if n < at_least {
            return Err(format!(
                "{n} `{kind}` plots, expected at least {at_least}: {p:?}"
            ));
        }
    }
    Ok(())
}

#[test]
fn the_page_is_self_contained_and_has_its_plots() {
    let html = built_in_report();
    check_plots(&html).unwrap();
    assert!(!html.contains("<script"), "a script in the page");
    for attr in [" src=", " href=", "url(", "@import"] {
        assert!(
            !html.contains(attr),
            "the page refers to something outside: {attr}"
        );
    }
    let outside = (html.matches("http://").count() + html.matches("https://").count())
        .saturating_sub(html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    assert_eq!(outside, 0, "a URL other than the SVG namespace");
    for section in ["id=\"designs\"", "id=\"folios\"", "id=\"eras\""] {
        assert!(html.contains(section), "no section {section}");
    }
    for era in ["5.10", "6.1", "6.12", "7.2"] {
        assert!(html.contains(&format!("kernel {era}")), "no era {era}");
    }
}

// ---- the browser ----

fn chromium() -> Option<&'static str> {
    let found = Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("chromium");
    }
    let why = "chromium is not installed (.ci/install-chromium installs it)";
    if std::env::var("FOLIOLAB_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("{why}, and FOLIOLAB_REQUIRE_CHROMIUM=1");
    }
    eprintln!("skipped the browser checks: {why}");
    None
}

/// Runs headless Chromium on `page` with no network and a private profile.
fn browse(page: &Path, args: &[&str]) -> Vec<u8> {
    let profile = Scratch::new("profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    drop(profile);
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The browser's DOM has the plots, and its screenshot shows them.
fn check_in_browser(html: &str, name: &str) -> Result<(), String> {
    let page = Scratch::new(name);
    std::fs::write(page.path(), html).unwrap();
    let dom = String::from_utf8(browse(page.path(), &["--dump-dom"])).unwrap();
    check_plots(&dom).map_err(|e| format!("rendered DOM: {e}"))?;
    let shot = Scratch::new(&format!("{name}.png"));
    let arg = format!("--screenshot={}", shot.path().display());
    browse(page.path(), &[&arg, "--window-size=1200,9000"]);
    let img = Png::read(shot.path());
    let blank = img.count(|p| p[0] > 245 && p[1] > 245 && p[2] > 245);
    let total = img.width * img.height;
    if blank * 100 > total * 98 {
        return Err(format!(
            "the screenshot is blank: {blank} of {total} pixels white"
        ));
    }
    // One colour of each plot: wrong answers (false_shared), folio maps (PTE, shared or
    // exclusive), eras (agree).
    let colours = [
        ("wrong answers", [0xff, 0x7f, 0x0e]),
        ("folio maps", [0x9e, 0xca, 0xe1]),
        ("eras", [0x1a, 0x98, 0x50]),
    ];
    for (what, rgb) in colours {
        let n = img.count(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 4));
        if n < 200 {
            return Err(format!(
                "the screenshot shows {n} pixels of the {what} plot colour"
            ));
        }
    }
    Ok(())
}

#[test]
fn chromium_renders_every_plot() {
    if chromium().is_none() {
        return;
    }
    check_in_browser(&built_in_report(), "report.html").unwrap();
}

#[test]
fn a_missing_plot_fails_the_checks() {
    let html = built_in_report();
    // The era chart removed: the plot is gone from the DOM and its colour from the picture.
    let start = html.find("<svg class=\"plot\" data-plot=\"eras\"").unwrap();
    let end = start + html[start..].find("</svg>").unwrap() + "</svg>".len();
    let broken = format!("{}{}", &html[..start], &html[end..]);
    assert!(check_plots(&broken).is_err());
    if chromium().is_none() {
        return;
    }
    let err = check_in_browser(&broken, "broken.html").unwrap_err();
    assert!(err.contains("eras"), "{err}");
    // The DOM check alone fails; with the plot kept in the DOM but not drawn (hidden), the
    // screenshot check fails.
    let hidden = html.replacen(
        "<svg class=\"plot\" data-plot=\"eras\"",
        "<svg style=\"display:none\" class=\"plot\" data-plot=\"eras\"",
        1,
    );
    let err = check_in_browser(&hidden, "hidden.html").unwrap_err();
    assert!(err.contains("eras"), "{err}");
    // The failed checks left no scratch page or screenshot behind.
    let left = left_behind(&["broken.html", "hidden.html"]);
    assert!(left.is_empty(), "scratch files left in /tmp: {left:?}");
}

/// This process's scratch files in the temporary directory whose names end with `stems`.
fn left_behind(stems: &[&str]) -> Vec<String> {
    let prefix = format!("foliolab-report-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .filter(|n| {
            stems
                .iter()
                .any(|s| n.ends_with(s) || n.ends_with(&format!("{s}.png")))
        })
        .collect()
}

// ---- a PNG reader, enough for Chromium's screenshots (8-bit RGB or RGBA) ----

struct Png {
    width: usize,
    height: usize,
    /// Bytes per pixel (3 or 4).
    bpp: usize,
    pixels: Vec<u8>,
}

impl Png {
    fn read(path: &Path) -> Png {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let (mut at, mut idat, mut header) = (8, Vec::new(), None);
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let kind = &bytes[at + 4..at + 8];
            let data = &bytes[at + 8..at + 8 + len];
            match kind {
                b"IHDR" => header = Some(data.to_vec()),
                b"IDAT" => idat.extend_from_slice(data),
                _ => {}
            }
            at += 12 + len;
        }
        let h = header.expect("IHDR");
        let width = u32::from_be_bytes(h[0..4].try_into().unwrap()) as usize;
        let height = u32::from_be_bytes(h[4..8].try_into().unwrap()) as usize;
        assert_eq!((h[8], h[12]), (8, 0), "8-bit, not interlaced");
        let bpp = match h[9] {
            2 => 3,
            6 => 4,
            t => panic!("PNG colour type {t}"),
        };
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .unwrap();
        Png {
            width,
            height,
            bpp,
            pixels: unfilter(&raw, width * bpp, height, bpp),
        }
    }

    fn count(&self, f: impl Fn(&[u8]) -> bool) -> usize {
        self.pixels.chunks(self.bpp).filter(|p| f(p)).count()
    }
}

/// Undoes the PNG scanline filters (none, sub, up, average, Paeth).
fn unfilter(raw: &[u8], stride: usize, height: usize, bpp: usize) -> Vec<u8> {
    let mut out = vec![0u8; stride * height];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= bpp {
                out[y * stride + x - bpp]
            } else {
                0
            };
            let b = if y > 0 { out[(y - 1) * stride + x] } else { 0 };
            let c = if x >= bpp && y > 0 {
                out[(y - 1) * stride + x - bpp]
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                f => panic!("PNG filter {f}"),
            };
            out[y * stride + x] = line[x].wrapping_add(pred);
        }
    }
    out
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
