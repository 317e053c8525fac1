//! The `foliolab` command.

fn main() {
    println!("foliolab: under construction");
}
