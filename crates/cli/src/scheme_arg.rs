//! The `--scheme` argument: its values (the registry's designs) are listed in `--help` and
//! offered by the shell completions; an unknown name is a usage error (exit 2) that names
//! the closest design.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

/// Parses a design name of the registry (`foliolab_sim::scheme_names`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SchemeParser;

impl TypedValueParser for SchemeParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let name = value.to_string_lossy();
        crate::run::check_scheme(&name)
            .map(|()| name.into_owned())
            .map_err(|e| clap::Error::raw(ErrorKind::InvalidValue, format!("{e}\n")).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let names = foliolab_sim::scheme_names();
        Some(Box::new(names.into_iter().map(PossibleValue::new)))
    }
}
