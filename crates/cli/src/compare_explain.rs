//! `foliolab compare --explain`: each wrong answer of each design, named by its statement
//! (file:line and the statement) and its folio (pfn, order), grouped by scenario and design.

use crate::compare::ScenarioOut;

/// Prints every wrong answer, or that a design gave none.
pub fn print(outs: &[ScenarioOut]) {
    for o in outs {
        if o.unsupported {
            continue;
        }
        println!("== {}: wrong answers", o.name);
        for r in &o.rows {
            let t = &r.tally;
            if t.wrong.is_empty() {
                println!("  {}: none", t.name);
                continue;
            }
            println!("  {}: {}", t.name, t.wrong.len());
            for w in &t.wrong {
                let (line, text) = o
                    .statements
                    .get(w.stmt as usize)
                    .cloned()
                    .unwrap_or((0, String::from("(end of run)")));
                println!(
                    "    {}:{line}: {text}\n      folio pfn {:#x} order {}: {}: {}",
                    o.name,
                    w.head.0,
                    w.order.0,
                    w.site.name(),
                    w.detail
                );
            }
        }
        println!();
    }
}
