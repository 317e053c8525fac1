//! Prints a scenario file in canonical form after parsing and validating it.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fmt FILE.scn");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    match foliolab_scenario::parse(&path, &text).and_then(|s| {
        foliolab_scenario::validate(&s)?;
        Ok(s)
    }) {
        Ok(s) => print!("{}", foliolab_scenario::print(&s)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
