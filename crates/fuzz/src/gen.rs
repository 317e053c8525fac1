//! The seeded generator: swarm weights per seed over the statement table ([`crate::ops`]),
//! THP knobs per seed, small pools of processes and regions so operations collide, and
//! ranges that only ever touch what the statement may touch. Every scenario it returns
//! passes `validate`, and the model can perform every statement in it.

use crate::ops::{OpSpec, OPS};
use crate::prng::Rng;
use crate::world::{Need, World};
use foliolab_scenario::{
    validate, Item, Pos, Range, RangeForm, Scenario, Stmt, StmtKind, ThpKey, ThpSetting,
};
use foliolab_types::PAGE_SIZE;

/// Per-seed shape of the workload (swarm testing: every seed is a different workload).
#[derive(Clone, Debug)]
pub struct Swarm {
    /// Weight of each entry of [`OPS`]; 0 turns the statement off for this seed.
    pub weights: Vec<u64>,
    /// Live processes at most.
    pub procs_max: usize,
    /// Regions per process at most (inherited ones included).
    pub regions_max: usize,
    /// Mean range length in pages.
    pub range_pages_mean: u64,
}

/// Generator state for one scenario.
pub struct Gen<'a> {
    pub rng: Rng<'a>,
    pub world: World,
    pub swarm: Swarm,
    next_value: u64,
}

/// Which table entries the runner can perform (asked once per campaign).
pub type Supported = Vec<bool>;

impl<'a> Gen<'a> {
    pub fn new(mut rng: Rng<'a>, supported: &Supported) -> Gen<'a> {
        assert_eq!(
            supported.len(),
            OPS.len(),
            "support table out of step with OPS"
        );
        let weights = OPS
            .iter()
            .zip(supported)
            .map(|(op, &ok)| swarm_weight(&mut rng, op, ok))
            .collect();
        let swarm = Swarm {
            weights,
            procs_max: rng.between(1, 6) as usize,
            regions_max: rng.between(1, 5) as usize,
            range_pages_mean: *rng.pick(&[1, 4, 16, 128, 512]),
        };
        Gen {
            rng,
            world: World::default(),
            swarm,
            next_value: 0,
        }
    }

    /// A distinct value for each write (0 is what fresh memory reads).
    pub fn value(&mut self) -> u64 {
        self.next_value += 1;
        (self.next_value << 8) | self.rng.below(256)
    }

    /// `steps` statements after the preamble (`scenario 1`, `thp`, first `spawn`).
    pub fn scenario(&mut self, steps: usize) -> Scenario {
        let mut kinds = vec![StmtKind::Scenario { version: 1 }];
        if self.rng.chance(9, 10) {
            kinds.push(StmtKind::Thp {
                settings: thp_settings(&mut self.rng),
            });
        }
        if self.rng.chance(1, 2) {
            kinds.push(StmtKind::Swap {
                size_bytes: 64 << 20,
            });
        }
        let first = self.world.fresh_proc();
        self.world.spawn(&first);
        kinds.push(StmtKind::Spawn { proc: first });
        while kinds.len() < steps + 3 {
            kinds.push(self.step());
        }
        let s = build(kinds);
        if let Err(e) = validate(&s) {
            panic!(
                "generator bug: invalid scenario: {e}\n{}",
                foliolab_scenario::print(&s)
            );
        }
        s
    }

    /// One statement drawn with the swarm weights; falls back to `spawn`/`map` when the
    /// drawn statement has nothing to act on.
    fn step(&mut self) -> StmtKind {
        for _ in 0..64 {
            let Some(i) = self.rng.weighted(&self.swarm.weights) else {
                break;
            };
            if let Some(k) = (OPS[i].gen)(self) {
                return k;
            }
        }
        crate::ops::fallback(self)
    }

    /// A live process, uniformly.
    pub fn proc(&mut self) -> Option<String> {
        let live = self.world.live();
        if live.is_empty() {
            return None;
        }
        Some(self.rng.pick(&live).clone())
    }

    /// A range of some region of `proc` whose every page satisfies `need`:
    /// `(region, first page, pages)`.
    pub fn range(&mut self, proc: &str, need: Need) -> Option<(String, usize, usize)> {
        self.range_where(proc, need, false, false)
    }

    /// [`Gen::range`] restricted to private anonymous regions (`anon_only`) and to one VMA
    /// of the shadow (`one_vma`: every page has the same VMA id).
    pub fn range_where(
        &mut self,
        proc: &str,
        need: Need,
        anon_only: bool,
        one_vma: bool,
    ) -> Option<(String, usize, usize)> {
        let p = self.world.procs.get(proc)?;
        let candidates: Vec<&String> = p
            .regions
            .iter()
            .filter(|(_, r)| (r.anon || !anon_only) && r.any(|pg| need.ok(pg)))
            .map(|(n, _)| n)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let region = (*self.rng.pick(&candidates)).clone();
        let r = &p.regions[&region];
        let pages = r.pages.clone();
        let vmas: Vec<u64> = r.meta.iter().map(|m| m.vma).collect();
        let n = pages.len();
        let whole_ok =
            pages.iter().all(|pg| need.ok(*pg)) && (!one_vma || vmas.iter().all(|v| *v == vmas[0]));
        if self.rng.chance(1, 6) && whole_ok {
            return Some((region, 0, n));
        }
        let mut first = self.rng.below(n as u64) as usize;
        while !need.ok(pages[first]) {
            first = (first + 1) % n;
        }
        let same = |i: usize, j: usize| !one_vma || vmas[i] == vmas[j];
        if self.rng.chance(1, 3) {
            let align = *self.rng.pick(&[4usize, 16, 512]);
            let down = first / align * align;
            if (down..=first).all(|i| need.ok(pages[i]) && same(i, first)) {
                first = down;
            }
        }
        let want =
            self.rng
                .exponential(self.swarm.range_pages_mean, (n - first) as u64) as usize;
        let mut len = 1;
        while len < want
            && first + len < n
            && need.ok(pages[first + len])
            && same(first + len, first)
        {
            len += 1;
        }
        Some((region, first, len))
    }

    /// The AST range for pages `[first, first+len)` of a region of `size_pages`, in one of
    /// the spec's four forms.
    pub fn range_ast(&mut self, region: &str, first: usize, len: usize, size: usize) -> Range {
        let (s, l) = (first as u64 * PAGE_SIZE, len as u64 * PAGE_SIZE);
        let form = if first == 0 && len == size && self.rng.chance(3, 4) {
            RangeForm::Whole
        } else if len == 1 && self.rng.chance(3, 4) {
            RangeForm::Page { offset_bytes: s }
        } else if self.rng.chance(1, 2) {
            RangeForm::Span {
                start_bytes: s,
                end_bytes: s + l,
            }
        } else {
            RangeForm::Len {
                start_bytes: s,
                len_bytes: l,
            }
        };
        Range {
            region: region.to_string(),
            form,
            pos: Pos::default(),
        }
    }
}

/// Swarm weight of one statement: off entirely for some seeds, the rest at rates that differ
/// by up to 64x.
fn swarm_weight(rng: &mut Rng, op: &OpSpec, supported: bool) -> u64 {
    if !supported {
        return 0;
    }
    let off = !op.core && rng.chance(1, 4);
    let w = 1u64 << rng.below(7);
    if off {
        0
    } else {
        w * op.base_weight
    }
}

/// THP knobs drawn per seed: a random subset of keys, each with a random legal value.
fn thp_settings(rng: &mut Rng) -> Vec<ThpSetting> {
    let modes = ["always", "madvise", "never"];
    let mut out = vec![ThpSetting {
        key: ThpKey::Enabled,
        value: rng.pick(&modes).to_string(),
    }];
    for order in 2..=9u8 {
        if rng.chance(1, 2) {
            let v = *rng.pick(&["always", "madvise", "never", "inherit", "never"]);
            out.push(ThpSetting {
                key: ThpKey::Size(order),
                value: v.to_string(),
            });
        }
    }
    let onoff = ["on", "off"];
    if rng.chance(1, 3) {
        let value = rng.pick(&onoff).to_string();
        out.push(ThpSetting {
            key: ThpKey::ZeroPage,
            value,
        });
    }
    if rng.chance(1, 3) {
        let value = rng.pick(&onoff).to_string();
        out.push(ThpSetting {
            key: ThpKey::ShrinkUnderused,
            value,
        });
    }
    if rng.chance(1, 3) {
        let v = *rng.pick(&[0u64, 1, 64, 255, 511]);
        let v = if rng.chance(1, 4) { rng.below(512) } else { v };
        out.push(ThpSetting {
            key: ThpKey::MaxPtesNone,
            value: v.to_string(),
        });
    }
    out
}

/// A scenario from statement kinds, one per line from line 1.
pub fn build(kinds: Vec<StmtKind>) -> Scenario {
    let items = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            Item::Stmt(Stmt {
                pos: Pos {
                    line: i as u32 + 1,
                    column: 1,
                },
                kind,
                comment: None,
                tokens: Vec::new(),
            })
        })
        .collect();
    Scenario {
        path: "generated.scn".into(),
        items,
    }
}
