//! The probe's helper process as its own executable, for tests and for
//! `FOLIOLAB_PROBE_HELPER`; the `foliolab` command runs the same code as `foliolab __probe-helper`.

fn main() {
    foliolab_probe::helper_main()
}
