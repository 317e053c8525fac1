//! A private apt state for downloading Debian kernel packages: its own sources list, package
//! lists, status and cache under foliolab's cache directory, selected with `-o` options on
//! every apt call, so the host's apt sources, lists and installed packages are never
//! changed. Packages are only
//! downloaded (`apt-get download`), never installed. The archive address comes from the
//! host's own apt sources.

use super::VmError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every suite a kernel generation is looked up in (oldest first).
pub const SUITES: &[(&str, Archive)] = &[
    ("bullseye", Archive::Main),
    ("bullseye-security", Archive::Security),
    ("bookworm", Archive::Main),
    ("bookworm-security", Archive::Security),
    ("bookworm-backports", Archive::Main),
    ("trixie", Archive::Main),
    ("trixie-security", Archive::Security),
    ("trixie-backports", Archive::Main),
    ("sid", Archive::Main),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archive {
    Main,
    Security,
}

/// Where Debian's archives are, as the host's apt sources name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirrors {
    pub main: String,
    pub security: String,
    /// The keyring the host's entry names (`Signed-By`), if any.
    pub keyring: Option<String>,
}

const DEBIAN_SUITES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "sid",
    "stable",
    "oldstable",
    "testing",
    "unstable",
];

type SourceEntry = (String, Vec<String>, Option<String>);

/// Adds the entries of one deb822 stanza and empties it.
fn flush_stanza(st: &mut Vec<(String, String)>, out: &mut Vec<SourceEntry>) {
    let get = |k: &str| {
        st.iter()
            .find(|(kk, _)| kk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let is_deb = get("Types").is_some_and(|t| t.split_whitespace().any(|x| x == "deb"));
    if let (true, Some(uris), Some(suites)) = (is_deb, get("URIs"), get("Suites")) {
        let suites: Vec<String> = suites.split_whitespace().map(String::from).collect();
        for u in uris.split_whitespace() {
            out.push((u.to_string(), suites.clone(), get("Signed-By")));
        }
    }
    st.clear();
}

/// One `deb [options] URI SUITE COMPONENTS` line.
fn one_line_entry(rest: &str) -> Option<SourceEntry> {
    let mut rest = rest.trim();
    let mut signed = None;
    if let Some(r) = rest.strip_prefix('[') {
        let (opts, r) = r.split_once(']')?;
        signed = opts
            .split_whitespace()
            .find_map(|o| o.strip_prefix("signed-by="))
            .map(String::from);
        rest = r.trim();
    }
    let mut it = rest.split_whitespace();
    Some((it.next()?.to_string(), vec![it.next()?.to_string()], signed))
}

/// (URI, suites, Signed-By) of every `deb` entry in a one-line or deb822 sources text.
pub fn parse_sources(text: &str) -> Vec<SourceEntry> {
    let mut out = Vec::new();
    let mut stanza: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            flush_stanza(&mut stanza, &mut out);
            continue;
        }
        let l = line.split('#').next().unwrap_or("").trim_end();
        if l.trim().is_empty() {
            // A comment line: inside a deb822 stanza it does not end it.
        } else if let Some(rest) = l.strip_prefix("deb ") {
            out.extend(one_line_entry(rest));
        } else if let Some((k, v)) = l.split_once(':') {
            if !l.starts_with(' ') {
                stanza.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    flush_stanza(&mut stanza, &mut out);
    out
}

/// The Debian archive and its security archive from the host's apt sources.
pub fn host_mirrors() -> Result<Mirrors, VmError> {
    let mut text = String::new();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut v: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources"))
            .collect();
        v.sort();
        files.extend(v);
    }
    for f in files {
        if let Ok(t) = std::fs::read_to_string(&f) {
            text.push_str(&t);
            text.push_str("\n\n");
        }
    }
    mirrors_from(&parse_sources(&text)).ok_or_else(|| {
        VmError::Apt(
            "the host's apt sources (/etc/apt/sources.list, sources.list.d) name no Debian \
             archive: kernel generations come from Debian's archive (pass --kernel PATH instead)"
                .into(),
        )
    })
}

fn mirrors_from(entries: &[SourceEntry]) -> Option<Mirrors> {
    let debian = |s: &String| {
        DEBIAN_SUITES
            .iter()
            .any(|d| s.split('-').next() == Some(*d))
    };
    let main = entries
        .iter()
        .find(|(_, s, _)| s.iter().any(|x| debian(x) && !x.ends_with("-security")))?;
    let security = entries
        .iter()
        .find(|(_, s, _)| s.iter().any(|x| debian(x) && x.ends_with("-security")))
        .map(|(u, _, _)| u.clone())
        .unwrap_or_else(|| format!("{}-security", main.0.trim_end_matches('/')));
    Some(Mirrors {
        main: main.0.trim_end_matches('/').to_string(),
        security: security.trim_end_matches('/').to_string(),
        keyring: main.2.clone(),
    })
}

/// The private apt state under `<cache>/apt`.
pub struct Apt {
    root: PathBuf,
}

fn run(cmd: &mut Command, what: &str) -> Result<String, VmError> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            VmError::Missing {
                tool: what.split_whitespace().next().unwrap_or(what).to_string(),
                package: "apt".into(),
            }
        } else {
            VmError::io(what, e)
        }
    })?;
    if !out.status.success() {
        return Err(VmError::Apt(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

impl Apt {
    /// Creates the private state (configuration, sources, folders) if needed.
    pub fn open(cache: &Path) -> Result<Apt, VmError> {
        let root = cache.join("apt");
        for d in [
            "lists/partial",
            "cache/archives/partial",
            "sources.list.d",
            "preferences.d",
        ] {
            let p = root.join(d);
            std::fs::create_dir_all(&p)
                .map_err(|e| VmError::io(format!("mkdir {}", p.display()), e))?;
        }
        let m = host_mirrors()?;
        let keyring = m
            .keyring
            .clone()
            .unwrap_or_else(|| "/usr/share/keyrings/debian-archive-keyring.gpg".into());
        let mut sources = String::new();
        for (suite, archive) in SUITES {
            let uri = match archive {
                Archive::Main => &m.main,
                Archive::Security => &m.security,
            };
            sources.push_str(&format!("deb [signed-by={keyring}] {uri} {suite} main\n"));
        }
        let write = |name: &str, text: &str| {
            let p = root.join(name);
            std::fs::write(&p, text).map_err(|e| VmError::io(format!("write {}", p.display()), e))
        };
        write("sources.list", &sources)?;
        if !root.join("status").exists() {
            write("status", "")?;
        }
        Ok(Apt { root })
    }

    /// Every setting that makes the state private, as `-o` options: the command line is
    /// read after the host's apt.conf.d (which may, for instance, switch off the package
    /// cache and make every call rebuild it).
    fn options(&self) -> Vec<String> {
        let r = self.root.display();
        let mut o = vec![
            format!("Dir::Etc::SourceList={r}/sources.list"),
            format!("Dir::Etc::SourceParts={r}/sources.list.d"),
            format!("Dir::Etc::Preferences={r}/preferences"),
            format!("Dir::Etc::PreferencesParts={r}/preferences.d"),
            format!("Dir::State::Lists={r}/lists"),
            format!("Dir::State::Status={r}/status"),
            format!("Dir::Cache={r}/cache"),
            format!("Dir::Cache::pkgcache={r}/cache/pkgcache.bin"),
            format!("Dir::Cache::srcpkgcache={r}/cache/srcpkgcache.bin"),
            "APT::Sandbox::User=root".into(),
            "Acquire::Languages=none".into(),
        ];
        for t in [
            "DEP-11",
            "DEP-11-icons",
            "DEP-11-icons-small",
            "DEP-11-icons-hidpi",
            "CNF",
        ] {
            o.push(format!(
                "Acquire::IndexTargets::deb::{t}::DefaultEnabled=false"
            ));
        }
        o
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        for o in self.options() {
            c.arg("-o").arg(o);
        }
        c.env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    }

    /// Whether package lists exist and are younger than `max_age`.
    pub fn lists_fresh(&self, max_age: std::time::Duration) -> bool {
        let stamp = self.root.join("lists/updated");
        std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < max_age)
    }

    /// `apt-get update` of the private lists.
    pub fn update(&self) -> Result<(), VmError> {
        run(self.cmd("apt-get").args(["-q", "update"]), "apt-get update")?;
        let stamp = self.root.join("lists/updated");
        std::fs::write(&stamp, "").map_err(|e| VmError::io(format!("write {}", stamp.display()), e))
    }

    /// Package names starting with `prefix`.
    pub fn pkgnames(&self, prefix: &str) -> Result<Vec<String>, VmError> {
        let out = run(
            self.cmd("apt-cache").args(["pkgnames", prefix]),
            "apt-cache pkgnames",
        )?;
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        Ok(v)
    }

    /// The highest version the lists have of each package (one apt call for all).
    pub fn versions(&self, pkgs: &[String]) -> Result<Vec<(String, String)>, VmError> {
        if pkgs.is_empty() {
            return Ok(Vec::new());
        }
        let out = run(
            self.cmd("apt-cache")
                .args(["show", "--no-all-versions"])
                .args(pkgs),
            "apt-cache show",
        )?;
        let mut v = Vec::new();
        let mut name = None;
        for l in out.lines() {
            if let Some(n) = l.strip_prefix("Package: ") {
                name = Some(n.to_string());
            } else if let Some(ver) = l.strip_prefix("Version: ") {
                if let Some(n) = name.take() {
                    v.push((n, ver.to_string()));
                }
            }
        }
        Ok(v)
    }

    /// Downloads `pkgs` (name=version) into `dir`.
    pub fn download(&self, pkgs: &[String], dir: &Path) -> Result<(), VmError> {
        let mut c = self.cmd("apt-get");
        c.current_dir(dir).args(["-q", "download"]).args(pkgs);
        run(&mut c, "apt-get download").map(|_| ())
    }
}

/// `a > b` in Debian version order (`dpkg --compare-versions`).
pub fn version_gt(a: &str, b: &str) -> Result<bool, VmError> {
    let st = Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .map_err(|e| VmError::io("dpkg --compare-versions", e))?;
    Ok(st.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn deb822_and_one_line_sources() {
        let t = "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                 Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                 Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
                 deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n";
        let e = parse_sources(t);
        assert_eq!(e.len(), 3);
        let m = mirrors_from(&e).unwrap();
        assert_eq!(m.main, "http://deb.debian.org/debian");
        assert_eq!(m.security, "http://deb.debian.org/debian-security");
        assert_eq!(
            m.keyring.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
        let one = parse_sources(
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror/debian/ bullseye main\n",
        );
        let m = mirrors_from(&one).unwrap();
        assert_eq!(m.main, "http://mirror/debian");
        assert_eq!(m.security, "http://mirror/debian-security");
        assert_eq!(m.keyring.as_deref(), Some("/k.gpg"));
        assert!(mirrors_from(&parse_sources("deb http://x/ nodistro main\n")).is_none());
    }
}
