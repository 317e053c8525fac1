//! `--kernel K` on the model side: which era's operations the model performs and which
//! design counts by default. K is `host` (this machine's kernel: its running release), a
//! generation (`5.10`, `6.1`, `6.12`, `6.18`, `7.2`) or the path of a kernel image (its era
//! from the version string the image carries). A release between two modelled generations is
//! modelled by the older one (6.6 by 6.1); a generation the model does not have yet runs the
//! 6.18 era, and says so.

use foliolab_model::{Era, Generation};
use foliolab_probe::compat::KernelVersion;
use foliolab_probe::vm::KernelSpec;
use foliolab_sim::ModelRunner;

/// The era a `--kernel` selects, and what to tell the user about the choice.
#[derive(Clone, Debug)]
pub struct EraChoice {
    pub era: Era,
    /// Set when the era is not exactly the kernel's generation (an approximation or a
    /// fallback): one line for standard error.
    pub note: Option<String>,
}

/// The era modelling Linux `version` (`None`: unknown, the 6.18 era).
pub fn era_for_version(version: Option<KernelVersion>) -> EraChoice {
    let Some(v) = version else {
        return EraChoice {
            era: Era::LINUX_6_18,
            note: Some("the kernel's version is unknown: the model runs the 6.18 era".into()),
        };
    };
    let Some(g) = Generation::for_version(v.major, v.minor) else {
        return EraChoice {
            era: Era::LINUX_6_18,
            note: Some(format!(
                "no era models Linux {}.{} (the oldest is 5.10): the model runs the 6.18 era",
                v.major, v.minor
            )),
        };
    };
    let Some(era) = Era::of(g) else {
        return EraChoice {
            era: Era::LINUX_6_18,
            note: Some(format!(
                "the {} era is not modelled yet: the model runs the 6.18 era",
                g.name()
            )),
        };
    };
    let exact = g.version() == (v.major, v.minor);
    EraChoice {
        era,
        note: (!exact).then(|| {
            format!(
                "Linux {}.{} is modelled by the {} era (the newest modelled generation at or below it)",
                v.major,
                v.minor,
                g.name()
            )
        }),
    }
}

/// The era `--kernel K` selects: `host` is this machine's running kernel.
pub fn era_for_kernel(kernel: &str) -> anyhow::Result<EraChoice> {
    let spec = KernelSpec::parse(kernel, None)?;
    Ok(era_for_spec(&spec))
}

/// The era of a parsed `--kernel`.
pub fn era_for_spec(spec: &KernelSpec) -> EraChoice {
    match spec {
        KernelSpec::Host => era_for_version(foliolab_probe::compat::running()),
        s => era_for_version(s.version()),
    }
}

/// A model runner of `era` under `scheme` (default: the era's own design).
pub fn runner(era: &Era, scheme: Option<&str>) -> anyhow::Result<ModelRunner> {
    let name = scheme.unwrap_or(era.design);
    crate::run::check_scheme(name)?;
    ModelRunner::for_era(*era, name).ok_or_else(|| anyhow::anyhow!("unknown scheme {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_the_newest_era_at_or_below() {
        let at = |a, b| era_for_version(Some(KernelVersion::new(a, b)));
        assert_eq!(at(6, 12).era, Era::LINUX_6_12);
        assert!(at(6, 12).note.is_none());
        assert_eq!(at(6, 14).era, Era::LINUX_6_12);
        assert!(at(6, 14).note.unwrap().contains("modelled by the 6.12 era"));
        assert_eq!(at(6, 19).era, Era::LINUX_6_18);
        assert_eq!(at(7, 2).era, Era::LINUX_7_2);
        assert_eq!(at(8, 0).era, Era::LINUX_7_2);
        assert!(at(4, 19).note.unwrap().contains("no era models Linux 4.19"));
        assert!(era_for_version(None).note.is_some());
    }

    /// A kernel image given by path: its era comes from the version string it carries.
    #[test]
    fn an_image_path_selects_the_era_of_its_version_string() {
        let dir = std::env::temp_dir().join(format!("foliolab-era-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("vmlinux");
        std::fs::write(
            &image,
            b"\x7fELF....Linux version 6.12.118+deb13-amd64 (gcc) #1\0",
        )
        .unwrap();
        let choice = era_for_kernel(image.to_str().unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(choice.era, Era::LINUX_6_12);
        assert!(choice.note.is_none());
        assert_eq!(era_for_kernel("7.2").unwrap().era, Era::LINUX_7_2);
        assert!(era_for_kernel("six").is_err());
    }
}
