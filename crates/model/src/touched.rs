//! The processes statements touched since the checks last looked: every process the model
//! changed (its page tables, VMAs or RSS counters, all reached through `Model::proc_mut`),
//! spawned or tore down. The checks after a statement visit these alone, so their cost does
//! not grow with the number of processes; [`TouchedProcs::all`] says "every process" (at the
//! start, and after statements nobody checked).

use crate::model::Pid;
use foliolab_types::MmId;

/// The processes touched since the last [`TouchedProcs::clear`], each once.
#[derive(Clone, Debug)]
pub struct TouchedProcs {
    /// Each touched process with its mm (a pid keeps its mm for life), in marking order.
    list: Vec<(Pid, MmId)>,
    /// Whether each pid is in `list`, by pid.
    listed: Vec<bool>,
    /// Every process counts as touched, whatever `list` says.
    all: bool,
}

impl Default for TouchedProcs {
    /// "Every process": checks that start on a model already running look at everything.
    fn default() -> TouchedProcs {
        TouchedProcs {
            list: Vec::new(),
            listed: Vec::new(),
            all: true,
        }
    }
}

impl TouchedProcs {
    /// Process `pid`, whose mm is `mm`, was changed, created or torn down.
    #[inline]
    pub fn mark(&mut self, pid: Pid, mm: MmId) {
        let i = pid.0 as usize;
        if i >= self.listed.len() {
            self.listed.resize(i + 1, false);
        }
        if !self.listed[i] {
            self.listed[i] = true;
            self.list.push((pid, mm));
        }
    }

    /// Every process counts as touched (the list is then not the whole answer).
    pub fn all(&self) -> bool {
        self.all
    }

    /// The processes marked since the last clear, with their mms, in marking order (a pid
    /// may have exited since).
    pub fn list(&self) -> &[(Pid, MmId)] {
        &self.list
    }

    /// Forgets the list and "every process".
    pub fn clear(&mut self) {
        for (pid, _) in self.list.drain(..) {
            self.listed[pid.0 as usize] = false;
        }
        self.all = false;
    }

    /// Forgets the list and says "every process" until the next clear.
    pub fn saturate(&mut self) {
        self.clear();
        self.all = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_is_listed_once_until_cleared() {
        let mut t = TouchedProcs::default();
        assert!(t.all());
        t.clear();
        assert!(!t.all() && t.list().is_empty());
        for p in [3, 1, 3, 3, 1, 0] {
            t.mark(Pid(p), MmId(p + 10));
        }
        assert_eq!(
            t.list(),
            &[(Pid(3), MmId(13)), (Pid(1), MmId(11)), (Pid(0), MmId(10))]
        );
        t.saturate();
        assert!(t.all() && t.list().is_empty());
        t.mark(Pid(1), MmId(11));
        assert_eq!(t.list(), &[(Pid(1), MmId(11))]);
    }
}
