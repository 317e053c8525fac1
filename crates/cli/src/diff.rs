//! A unified diff of two texts by lines (`fmt --check`): common prefix and suffix trimmed,
//! the middle aligned by a longest common subsequence, hunks with two lines of context.

use std::fmt::Write;

/// Lines of context around a change.
const CONTEXT: usize = 2;
/// Above this many cells the middle is shown as removed then added, unaligned.
const MAX_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Same,
    Del,
    Add,
}

/// `--- old_name` / `+++ new_name` and the hunks turning `old` into `new`; empty when the
/// texts are equal.
pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = align(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    for hunk in hunks(&ops) {
        write_hunk(
            &mut out,
            &ops[hunk.0..hunk.1],
            &a,
            &b,
            position(&ops, hunk.0),
        );
    }
    out
}

/// The edit script from `a` to `b`.
fn align(a: &[&str], b: &[&str]) -> Vec<Op> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut ops = vec![Op::Same; pre];
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        ops.extend(std::iter::repeat_n(Op::Del, am.len()));
        ops.extend(std::iter::repeat_n(Op::Add, bm.len()));
    } else {
        ops.extend(lcs_ops(am, bm));
    }
    ops.extend(std::iter::repeat_n(Op::Same, suf));
    ops
}

/// Longest-common-subsequence alignment of two short line lists.
fn lcs_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    let mut len = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i * (m + 1) + j] = if a[i] == b[j] {
                len[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                len[(i + 1) * (m + 1) + j].max(len[i * (m + 1) + j + 1])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same);
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || len[(i + 1) * (m + 1) + j] >= len[i * (m + 1) + j + 1]) {
            ops.push(Op::Del);
            i += 1;
        } else {
            ops.push(Op::Add);
            j += 1;
        }
    }
    ops
}

/// Ranges of `ops` to show: each change with its context, overlapping ones merged.
fn hunks(ops: &[Op]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        if *op == Op::Same {
            continue;
        }
        let (lo, hi) = (k.saturating_sub(CONTEXT), (k + 1 + CONTEXT).min(ops.len()));
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Line indices in `a` and `b` where op number `k` starts.
fn position(ops: &[Op], k: usize) -> (usize, usize) {
    let del_or_same = ops[..k].iter().filter(|o| **o != Op::Add).count();
    let add_or_same = ops[..k].iter().filter(|o| **o != Op::Del).count();
    (del_or_same, add_or_same)
}

fn write_hunk(out: &mut String, ops: &[Op], a: &[&str], b: &[&str], at: (usize, usize)) {
    let old_len = ops.iter().filter(|o| **o != Op::Add).count();
    let new_len = ops.iter().filter(|o| **o != Op::Del).count();
    let _ = writeln!(out, "@@ -{},{old_len} +{},{new_len} @@", at.0 + 1, at.1 + 1);
    let (mut i, mut j) = at;
    for op in ops {
        let (mark, line) = match op {
            Op::Same => {
                (i, j) = (i + 1, j + 1);
                (' ', a[i - 1])
            }
            Op::Del => {
                i += 1;
                ('-', a[i - 1])
            }
            Op::Add => {
                j += 1;
                ('+', b[j - 1])
            }
        };
        out.push(mark);
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_with_context() {
        let old = "a\nb\nc\nd\ne\nf\n";
        let new = "a\nb\nc\nD\ne\nf\n";
        assert_eq!(
            unified("x", "y", old, new),
            "--- x\n+++ y\n@@ -2,5 +2,5 @@\n b\n c\n-d\n+D\n e\n f\n"
        );
    }

    #[test]
    fn insertions_deletions_and_no_final_newline() {
        assert_eq!(unified("x", "y", "same\n", "same\n"), "");
        let d = unified("x", "y", "a\nb", "a\nb\n");
        assert!(d.contains("-b\n\\ No newline at end of file\n+b\n"), "{d}");
        let d = unified("x", "y", "a\n\n\nb\n", "a\n\nb\n");
        assert!(d.contains("@@ -1,4 +1,3 @@"), "{d}");
    }
}
