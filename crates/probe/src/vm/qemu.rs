//! The QEMU command line: x86-64, no default devices, the kernel and initramfs given
//! directly, the console on the first serial port (a log file) and the guest's message
//! port on the second (QEMU's standard output). TCG by default (`-accel tcg,thread=multi
//! -cpu max`); KVM only where a trial boot showed it works.

use super::kernel::PreparedKernel;
use super::VmError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The emulator.
pub const QEMU: &str = "qemu-system-x86_64";
/// The Debian package that has it.
pub const QEMU_PACKAGE: &str = "qemu-system-x86";

/// The emulator on PATH (`FOLIOLAB_QEMU` overrides it).
pub fn find_qemu() -> Result<PathBuf, VmError> {
    if let Some(p) = std::env::var_os("FOLIOLAB_QEMU") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(VmError::Missing {
                tool: p.display().to_string(),
                package: QEMU_PACKAGE.into(),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(QEMU))
        .find(|p| p.is_file())
        .ok_or_else(|| VmError::Missing {
            tool: QEMU.into(),
            package: QEMU_PACKAGE.into(),
        })
}

/// `qemu-system-x86_64 --version`'s first line.
pub fn qemu_version(qemu: &Path) -> String {
    Command::new(qemu)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(String::from)
        })
        .unwrap_or_default()
}

/// How the guest's CPUs run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// QEMU's translator: works everywhere, 10-50x slower than the host.
    Tcg,
    /// Hardware virtualisation through /dev/kvm.
    Kvm,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// One boot's settings.
pub struct Boot<'a> {
    pub qemu: &'a Path,
    pub kernel: &'a PreparedKernel,
    pub initramfs: &'a Path,
    pub console_log: &'a Path,
    pub cpus: u32,
    pub memory_mib: u64,
    pub accel: Accel,
}

/// The kernel command line: console on ttyS0, a ramfs root (on the default tmpfs rootfs
/// the runner's own executable would count as RssShmem), foliolab as init, reboot at once
/// on a panic (QEMU then exits: `-no-reboot`).
/// `FOLIOLAB_PROBE_DEBUG` passes through (the kernel hands unknown `KEY=VALUE` parameters
/// to init's environment; the guest's debug lines go to the console log).
pub fn kernel_cmdline() -> String {
    let debug = match std::env::var("FOLIOLAB_PROBE_DEBUG") {
        Ok(v) if !v.is_empty() && !v.contains(char::is_whitespace) => {
            format!(" FOLIOLAB_PROBE_DEBUG={v}")
        }
        _ => String::new(),
    };
    format!(
        "console=ttyS0 rootfstype=ramfs rdinit=/foliolab panic=-1 quiet loglevel=4 \
         mitigations=off{debug} -- __vm-guest"
    )
}

impl Boot<'_> {
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.qemu);
        c.args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ]);
        c.args(["-monitor", "none"]);
        match self.accel {
            // la57 off: the host walks 4-level page tables, and so does the guest.
            Accel::Tcg => c.args(["-accel", "tcg,thread=multi", "-cpu", "max,la57=off"]),
            Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host"]),
        };
        c.arg("-smp").arg(self.cpus.to_string());
        c.arg("-m").arg(format!("{}M", self.memory_mib));
        c.arg("-kernel").arg(&self.kernel.boot_image);
        c.arg("-initrd").arg(self.initramfs);
        c.arg("-append").arg(kernel_cmdline());
        c.arg("-serial")
            .arg(format!("file:{}", self.console_log.display()));
        c.args(["-serial", "stdio"]);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
}
