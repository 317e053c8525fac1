//! `--kernel` errors that need no VM: bad values and a missing QEMU are clear errors with
//! exit status 2, before anything is downloaded.

use std::process::Command;

const FOLIOLAB: &str = env!("CARGO_BIN_EXE_foliolab");

fn scenario() -> String {
    format!(
        "{}/../../tests/conformance/fork-cow-2m.scn",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(FOLIOLAB)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("start foliolab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_kernel_value_is_exit_2_with_the_forms_it_takes() {
    let (code, err) = run(&["probe", "--kernel", "six.one", &scenario()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--kernel six.one") && err.contains("MAJOR.MINOR"),
        "{err}"
    );
    let (code, err) = run(
        &[
            "check",
            "--kernel",
            "6.1",
            "--kernel-modules",
            "/",
            &scenario(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--kernel-modules goes with --kernel PATH"),
        "{err}"
    );
    let (code, err) = run(&["probe", "--save", "/tmp/x", &scenario()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--save and --facts go with a VM kernel"),
        "{err}"
    );
}

#[test]
fn a_missing_qemu_names_the_package_before_any_download() {
    let cache = std::env::temp_dir().join(format!("foliolab-vm-cli-{}", std::process::id()));
    let cache_s = cache.display().to_string();
    let envs = [
        ("FOLIOLAB_QEMU", "/nonexistent/qemu-system-x86_64"),
        ("FOLIOLAB_CACHE", cache_s.as_str()),
    ];
    for cmd in ["probe", "check"] {
        let (code, err) = run(&[cmd, "--kernel", "6.1", &scenario()], &envs);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("install the Debian package qemu-system-x86"),
            "{err}"
        );
    }
    // Nothing was downloaded or prepared.
    let kernels = std::fs::read_dir(cache.join("kernels"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(kernels, 0);
    let _ = std::fs::remove_dir_all(&cache);
}
