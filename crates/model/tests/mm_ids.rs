//! MM ids: a new process takes the lowest id no live process holds (ids are observable in
//! traces and in the MM_ID designs' slots, so the choice is part of the model's behaviour).

use foliolab_model::{Model, Pid, ThpConfig};
use foliolab_types::MmId;

fn model() -> Model {
    let scheme = foliolab_schemes::by_name("linux-6.18").unwrap();
    Model::new(scheme, ThpConfig::default())
}

fn ids(m: &Model, pids: &[Pid]) -> Vec<u32> {
    pids.iter().map(|&p| m.mm_id(p).0).collect()
}

#[test]
fn a_new_process_takes_the_lowest_free_mm_id() {
    let mut m = model();
    let p: Vec<Pid> = (0..5).map(|_| m.spawn()).collect();
    assert_eq!(ids(&m, &p), [1, 2, 3, 4, 5]);
    m.exit(p[3]);
    m.exit(p[1]);
    let a = m.spawn();
    assert_eq!(
        m.mm_id(a),
        MmId(2),
        "the lowest of the released ids 2 and 4"
    );
    m.exit(p[4]);
    let b = m.spawn();
    let c = m.spawn();
    let d = m.spawn();
    assert_eq!(ids(&m, &[b, c, d]), [4, 5, 6]);
    m.exit(p[0]);
    let e = m.spawn();
    assert_eq!(m.mm_id(e), MmId(1));
}

#[test]
fn ids_match_a_linear_search_over_a_long_churn() {
    // The reference is the definition: the lowest positive id no live process holds.
    let mut m = model();
    let mut live: Vec<Pid> = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if live.len() > 2 && x.is_multiple_of(3) {
            let victim = live.remove((x >> 8) as usize % live.len());
            m.exit(victim);
            continue;
        }
        let held: Vec<u32> = ids(&m, &live);
        let want = (1..).find(|i| !held.contains(i)).unwrap();
        let p = m.spawn();
        assert_eq!(m.mm_id(p), MmId(want));
        live.push(p);
    }
}
