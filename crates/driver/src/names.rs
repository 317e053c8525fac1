//! Canonical names of frames (`p1`, `p2`, ...) and folios (`f1`, `f2`, ...) in order of first
//! sight during a run; zero pages are `zero` and the huge zero folio `hzero`.

use crate::obs::{PageObs, ZeroKind};
use std::collections::BTreeMap;

/// A raw id plus the runner's epoch for it (so a reused frame gets a new name on the model).
type Key = (u64, Option<u64>);

#[derive(Debug, Default)]
pub struct Names {
    frames: BTreeMap<Key, u64>,
    folios: BTreeMap<Key, u64>,
}

impl Names {
    pub fn new() -> Names {
        Names::default()
    }

    /// The canonical frame name of a raw frame id.
    pub fn frame(&mut self, raw: u64, epoch: Option<u64>) -> String {
        format!("p{}", next_id(&mut self.frames, (raw, epoch)))
    }

    /// The canonical folio name of a raw folio id.
    pub fn folio(&mut self, raw: u64, epoch: Option<u64>) -> String {
        format!("f{}", next_id(&mut self.folios, (raw, epoch)))
    }

    /// Frame and folio names of an observed page (`zero`/`hzero` for zero pages).
    pub fn of_page(
        &mut self,
        obs: &PageObs,
        epoch: &mut dyn FnMut(u64) -> Option<u64>,
    ) -> (Option<String>, Option<String>) {
        match obs.zero {
            Some(ZeroKind::Small) => (Some("zero".into()), Some("zero".into())),
            Some(ZeroKind::Huge) => (Some("hzero".into()), Some("hzero".into())),
            None => {
                let frame = obs.frame.map(|f| self.frame(f, epoch(f)));
                let folio = obs.folio.map(|f| self.folio(f, epoch(f)));
                (frame, folio)
            }
        }
    }
}

fn next_id(map: &mut BTreeMap<Key, u64>, key: Key) -> u64 {
    let next = map.len() as u64 + 1;
    *map.entry(key).or_insert(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sight_order() {
        let mut n = Names::new();
        assert_eq!(n.frame(900, None), "p1");
        assert_eq!(n.frame(100, None), "p2");
        assert_eq!(n.frame(900, None), "p1");
        assert_eq!(n.frame(900, Some(2)), "p3");
        assert_eq!(n.folio(100, None), "f1");
    }
}
