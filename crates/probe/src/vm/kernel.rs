//! Which kernel a VM boots (`--kernel K`) and the files prepared for it: `host` (no VM), a
//! generation (`6.1`) resolved to a Debian package, or a kernel image a developer built.

use super::apt::{version_gt, Apt};
use super::cache::Cache;
use super::image::extract_pvh_vmlinux;
use super::modules::{builtin_names, resolve, Module};
use super::VmError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A kernel generation, `MAJOR.MINOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Generation {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Generation {
    pub fn parse(s: &str) -> Option<Generation> {
        let (a, b) = s.split_once('.')?;
        let ok = |x: &str| !x.is_empty() && x.len() <= 3 && x.bytes().all(|c| c.is_ascii_digit());
        if !ok(a) || !ok(b) {
            return None;
        }
        Some(Generation {
            major: a.parse().ok()?,
            minor: b.parse().ok()?,
        })
    }
}

/// What `--kernel` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelSpec {
    /// This machine's kernel: no VM.
    Host,
    /// The newest Debian package of a generation.
    Generation(Generation),
    /// A kernel image (bzImage or an ELF vmlinux) and, for zram, a modules directory.
    Path {
        image: PathBuf,
        modules: Option<PathBuf>,
    },
}

impl KernelSpec {
    /// `host`, `MAJOR.MINOR`, or the path of an existing file.
    pub fn parse(s: &str, modules: Option<PathBuf>) -> Result<KernelSpec, VmError> {
        let spec = if s == "host" {
            KernelSpec::Host
        } else if let Some(g) = Generation::parse(s) {
            KernelSpec::Generation(g)
        } else if Path::new(s).is_file() {
            KernelSpec::Path {
                image: PathBuf::from(s),
                modules: None,
            }
        } else {
            return Err(VmError::Usage(format!(
                "--kernel {s}: neither `host`, a generation (MAJOR.MINOR, e.g. 6.1), nor an existing kernel image"
            )));
        };
        match (spec, modules) {
            (KernelSpec::Path { image, .. }, m) => {
                if let Some(d) = &m {
                    if !d.is_dir() {
                        return Err(VmError::Usage(format!(
                            "--kernel-modules {}: not a directory",
                            d.display()
                        )));
                    }
                }
                Ok(KernelSpec::Path { image, modules: m })
            }
            (_, Some(_)) => Err(VmError::Usage(
                "--kernel-modules goes with --kernel PATH (a generation brings its own modules)"
                    .into(),
            )),
            (s, None) => Ok(s),
        }
    }
}

impl KernelSpec {
    /// The kernel generation this spec boots, as far as it is known before booting: a
    /// generation's own, or the release an image names (`None` for the host and for images
    /// that name none).
    pub fn version(&self) -> Option<crate::compat::KernelVersion> {
        match self {
            KernelSpec::Host => None,
            KernelSpec::Generation(g) => Some(crate::compat::KernelVersion::new(g.major, g.minor)),
            KernelSpec::Path { image, .. } => std::fs::read(image)
                .ok()
                .and_then(|b| super::image::image_release(&b))
                .and_then(|r| crate::compat::KernelVersion::from_release(&r)),
        }
    }
}

/// A kernel ready to boot.
#[derive(Clone, Debug)]
pub struct PreparedKernel {
    /// What it is, for messages (`Debian linux-image-6.1.0-57-amd64-unsigned 6.1.192-3`).
    pub label: String,
    /// What QEMU boots (`-kernel`).
    pub boot_image: PathBuf,
    /// Whether `boot_image` is an ELF booted through PVH.
    pub pvh: bool,
    /// The kernel's build configuration, if known.
    pub config: Option<PathBuf>,
    /// Modules the guest loads, dependencies first.
    pub modules: Vec<Module>,
    /// Why a module the runner wants is missing (zram: swap scenarios are unsupported).
    pub missing_modules: Option<String>,
    /// The cache directory holding it: `image` (as packaged), `vmlinux`, `config` and
    /// `modules/` (a modules directory `--kernel-modules` accepts).
    pub dir: PathBuf,
}

/// Modules the guest needs: zram, for the `swap` statement.
pub const WANTED_MODULES: &[&str] = &["zram"];

/// The kernel to boot for `spec` (not `Host`): downloads and unpacks a package the first
/// time, then reuses the cache; `progress` hears what takes time.
pub fn prepare(
    spec: &KernelSpec,
    cache: &Cache,
    progress: &mut dyn FnMut(&str),
) -> Result<PreparedKernel, VmError> {
    match spec {
        KernelSpec::Host => Err(VmError::Usage("the host kernel needs no VM".into())),
        KernelSpec::Generation(g) => prepare_generation(*g, cache, progress),
        KernelSpec::Path { image, modules } => prepare_path(image, modules.as_deref(), cache),
    }
}

fn read_dir_sorted(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The first file under `root` whose path relative to it matches `pred`.
fn find(root: &Path, pred: &dyn Fn(&str) -> bool, depth: u32) -> Option<PathBuf> {
    for p in read_dir_sorted(root) {
        let rel = p.to_string_lossy().to_string();
        if p.is_file() && pred(&rel) {
            return Some(p);
        }
        if p.is_dir() && depth < 6 {
            if let Some(f) = find(&p, pred, depth + 1) {
                return Some(f);
            }
        }
    }
    None
}

/// A prepared kernel directory: `image`, optionally `vmlinux` (PVH), `config`,
/// `modules/NAME.ko` with `modules/order` (load order, one name a line: the directory is a
/// modules directory `--kernel-modules` accepts), `label`, `missing-modules`.
fn load_prepared(dir: &Path) -> Option<PreparedKernel> {
    let label = std::fs::read_to_string(dir.join("label")).ok()?;
    let image = dir.join("image");
    if !image.is_file() {
        return None;
    }
    let vmlinux = dir.join("vmlinux");
    let (boot_image, pvh) = if vmlinux.is_file() {
        (vmlinux, true)
    } else {
        (image, false)
    };
    let mut modules = Vec::new();
    let order = std::fs::read_to_string(dir.join("modules/order")).ok()?;
    for name in order.lines().filter(|l| !l.is_empty()) {
        modules.push(Module {
            name: name.to_string(),
            elf: std::fs::read(dir.join("modules").join(format!("{name}.ko"))).ok()?,
        });
    }
    Some(PreparedKernel {
        label: label.trim().to_string(),
        boot_image,
        pvh,
        config: Some(dir.join("config")).filter(|c| c.is_file()),
        modules,
        missing_modules: std::fs::read_to_string(dir.join("missing-modules"))
            .ok()
            .map(|s| s.trim().to_string()),
        dir: dir.to_path_buf(),
    })
}

/// Fills a prepared kernel directory from an image, a config and a modules tree.
fn fill_prepared(
    dir: &Path,
    label: &str,
    image: &Path,
    config: Option<&Path>,
    modules_root: Option<&Path>,
) -> Result<(), VmError> {
    let io = |what: String| move |e| VmError::io(what, e);
    std::fs::create_dir_all(dir.join("modules")).map_err(io(format!("mkdir {}", dir.display())))?;
    std::fs::copy(image, dir.join("image")).map_err(io(format!("copy {}", image.display())))?;
    if let Some(c) = config {
        std::fs::copy(c, dir.join("config")).map_err(io(format!("copy {}", c.display())))?;
    }
    if let Err(why) = extract_pvh_vmlinux(image, &dir.join("vmlinux")) {
        std::fs::write(dir.join("no-pvh"), &why).map_err(io("write no-pvh".into()))?;
    }
    let (mods, missing) = match modules_root {
        None => (Vec::new(), Some("no modules directory given".to_string())),
        Some(root) => {
            let builtin = find(root, &|p| p.ends_with("/modules.builtin"), 0)
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| builtin_names(&t))
                .unwrap_or_default();
            match resolve(root, WANTED_MODULES, &builtin) {
                Ok(mods) => (mods, None),
                Err(e) => (Vec::new(), Some(e)),
            }
        }
    };
    let mut order = String::new();
    for m in &mods {
        let p = dir.join("modules").join(format!("{}.ko", m.name));
        std::fs::write(&p, &m.elf).map_err(io(format!("write {}", p.display())))?;
        order.push_str(&m.name);
        order.push('\n');
    }
    std::fs::write(dir.join("modules/order"), order).map_err(io("write modules/order".into()))?;
    if let Some(m) = &missing {
        std::fs::write(dir.join("missing-modules"), m)
            .map_err(io("write missing-modules".into()))?;
    }
    std::fs::write(dir.join("label"), label).map_err(io("write label".into()))
}

/// A developer's kernel image: prepared once per (path, size, modification time).
fn prepare_path(
    image: &Path,
    modules: Option<&Path>,
    cache: &Cache,
) -> Result<PreparedKernel, VmError> {
    let meta = std::fs::metadata(image)
        .map_err(|e| VmError::io(format!("stat {}", image.display()), e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let abs = std::fs::canonicalize(image).unwrap_or_else(|_| image.to_path_buf());
    let key = format!("{}|{}|{mtime}|{:?}", abs.display(), meta.len(), modules);
    let dir = cache
        .root()
        .join("local")
        .join(format!("{:016x}", fnv1a(key.as_bytes())));
    let _lock = cache.lock()?;
    if let Some(k) = load_prepared(&dir) {
        return Ok(k);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let config = image.parent().and_then(|d| {
        [d.join(".config"), d.join("config")]
            .into_iter()
            .find(|p| p.is_file())
    });
    fill_prepared(
        &dir,
        &abs.display().to_string(),
        image,
        config.as_deref(),
        modules,
    )?;
    load_prepared(&dir)
        .ok_or_else(|| VmError::Package(format!("{}: preparation incomplete", dir.display())))
}

/// 64-bit FNV-1a, for cache keys.
pub fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= c as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The packages of one Debian kernel build: the image package and any companions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianKernel {
    pub packages: Vec<String>,
    pub version: String,
}

/// Whether `name` is the generic amd64 kernel image package of generation `g`: the
/// `linux-image-G.*-amd64-unsigned` packages (<= 6.x) or `linux-binary-G.*-amd64` (7.x
/// packaging, with `linux-modules-*` and `linux-base-*`).
pub fn image_package(name: &str, g: Generation) -> Option<Vec<String>> {
    let flavour_ok = |s: &str| !s.contains("-cloud-") && !s.contains("-rt-") && !s.contains("-dbg");
    let image = format!("linux-image-{g}.");
    if let Some(rest) = name.strip_prefix(&image) {
        if rest.ends_with("-amd64-unsigned") && flavour_ok(name) {
            return Some(vec![name.to_string()]);
        }
    }
    let binary = format!("linux-binary-{g}.");
    if let Some(rest) = name.strip_prefix(&binary) {
        if rest.ends_with("-amd64") && flavour_ok(name) {
            let abi = &name["linux-binary-".len()..];
            return Some(vec![
                name.to_string(),
                format!("linux-modules-{abi}"),
                format!("linux-base-{abi}"),
            ]);
        }
    }
    None
}

/// The newest Debian build of generation `g` in the private lists.
fn resolve_generation(apt: &Apt, g: Generation) -> Result<Option<DebianKernel>, VmError> {
    let mut candidates: Vec<(String, Vec<String>)> = Vec::new();
    for prefix in [format!("linux-image-{g}."), format!("linux-binary-{g}.")] {
        for name in apt.pkgnames(&prefix)? {
            if let Some(pkgs) = image_package(&name, g) {
                candidates.push((name, pkgs));
            }
        }
    }
    let names: Vec<String> = candidates.iter().map(|(n, _)| n.clone()).collect();
    let mut best: Option<DebianKernel> = None;
    for (name, version) in apt.versions(&names)? {
        let Some((_, pkgs)) = candidates.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let newer = match &best {
            None => true,
            Some(b) => version_gt(&version, &b.version)?,
        };
        if newer {
            best = Some(DebianKernel {
                packages: pkgs.clone(),
                version,
            });
        }
    }
    Ok(best)
}

fn prepare_generation(
    g: Generation,
    cache: &Cache,
    progress: &mut dyn FnMut(&str),
) -> Result<PreparedKernel, VmError> {
    let _lock = cache.lock()?;
    let pointer = cache.root().join("kernels").join(format!("gen-{g}"));
    if let Ok(name) = std::fs::read_to_string(&pointer) {
        if let Some(k) = load_prepared(&cache.root().join("kernels").join(name.trim())) {
            return Ok(k);
        }
    }
    let apt = Apt::open(cache.root())?;
    if !apt.lists_fresh(Duration::from_secs(24 * 3600)) {
        progress("updating the private Debian package lists");
        apt.update()?;
    }
    let found = match resolve_generation(&apt, g)? {
        Some(k) => k,
        None => {
            return Err(VmError::Package(format!(
                "no Debian kernel package of generation {g} (looked for linux-image-{g}.*-amd64-unsigned \
                 and linux-binary-{g}.*-amd64 in {})",
                super::apt::SUITES.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let name = format!("{}_{}", found.packages[0], found.version);
    let dir = cache.root().join("kernels").join(&name);
    if load_prepared(&dir).is_none() {
        progress(&format!(
            "downloading {} {}",
            found.packages.join(" "),
            found.version
        ));
        download_and_fill(&apt, cache, &found, &dir)?;
    }
    std::fs::write(&pointer, &name)
        .map_err(|e| VmError::io(format!("write {}", pointer.display()), e))?;
    load_prepared(&dir)
        .ok_or_else(|| VmError::Package(format!("{}: preparation incomplete", dir.display())))
}

fn download_and_fill(
    apt: &Apt,
    cache: &Cache,
    k: &DebianKernel,
    dir: &Path,
) -> Result<(), VmError> {
    let work = cache.root().join("work");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    std::fs::create_dir_all(&root)
        .map_err(|e| VmError::io(format!("mkdir {}", root.display()), e))?;
    let pkgs: Vec<String> = k
        .packages
        .iter()
        .map(|p| format!("{p}={}", k.version))
        .collect();
    if apt.download(&pkgs, &work).is_err() {
        // The lists may name a build the archive no longer has: refresh them once.
        apt.update()?;
        apt.download(&pkgs, &work)?;
    }
    for deb in read_dir_sorted(&work)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
    {
        let st = std::process::Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .status()
            .map_err(|_| VmError::Missing {
                tool: "dpkg-deb".into(),
                package: "dpkg".into(),
            })?;
        if !st.success() {
            return Err(VmError::Package(format!(
                "dpkg-deb -x {} failed",
                deb.display()
            )));
        }
    }
    let image = find(
        &root,
        &|p| p.contains("/boot/vmlinuz-") || p.ends_with("/vmlinuz"),
        0,
    )
    .ok_or_else(|| VmError::Package(format!("{}: no vmlinuz in the package", k.packages[0])))?;
    let config = find(
        &root,
        &|p| p.contains("/boot/config-") || (p.contains("/modules/") && p.ends_with("/config")),
        0,
    );
    let modules = find(&root, &|p| p.ends_with("/modules.builtin"), 0)
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let label = format!("Debian {} {}", k.packages[0], k.version);
    let _ = std::fs::remove_dir_all(dir);
    fill_prepared(dir, &label, &image, config.as_deref(), modules.as_deref())?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn generations() {
        assert_eq!(
            Generation::parse("6.1"),
            Some(Generation { major: 6, minor: 1 })
        );
        assert_eq!(
            Generation::parse("5.10").map(|g| g.to_string()).as_deref(),
            Some("5.10")
        );
        for bad in ["6", "6.", ".1", "6.1.2", "x.1", "host", "6.1a"] {
            assert_eq!(Generation::parse(bad), None, "{bad}");
        }
    }
    #[test]
    fn package_names() {
        let g61 = Generation::parse("6.1").unwrap();
        let g612 = Generation::parse("6.12").unwrap();
        let g72 = Generation::parse("7.2").unwrap();
        assert!(image_package("linux-image-6.1.0-57-amd64-unsigned", g61).is_some());
        assert!(image_package("linux-image-6.12.118+deb12-amd64-unsigned", g61).is_none());
        assert!(image_package("linux-image-6.12.118+deb12-amd64-unsigned", g612).is_some());
        assert!(image_package("linux-image-6.1.0-57-cloud-amd64-unsigned", g61).is_none());
        assert!(image_package("linux-image-6.1.0-57-rt-amd64-unsigned", g61).is_none());
        assert!(image_package("linux-image-6.1.0-57-amd64", g61).is_none());
        assert_eq!(
            image_package("linux-binary-7.2.13+deb14-amd64", g72),
            Some(vec![
                "linux-binary-7.2.13+deb14-amd64".to_string(),
                "linux-modules-7.2.13+deb14-amd64".to_string(),
                "linux-base-7.2.13+deb14-amd64".to_string()
            ])
        );
        assert!(image_package("linux-binary-7.2.13+deb14-cloud-amd64", g72).is_none());
    }
    #[test]
    fn specs() {
        assert_eq!(KernelSpec::parse("host", None).unwrap(), KernelSpec::Host);
        assert!(matches!(
            KernelSpec::parse("6.12", None),
            Ok(KernelSpec::Generation(_))
        ));
        assert!(KernelSpec::parse("/nonexistent/bzImage", None).is_err());
        assert!(KernelSpec::parse("6.1", Some(PathBuf::from("/"))).is_err());
    }
}
