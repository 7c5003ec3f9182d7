//! Exact shadowing: a rule can never fire when every packet it matches is already decided by
//! earlier terminal rules of the same chain, possibly several together.
//!
//! A rule's decidable matches form a box over eight dimensions (source and destination
//! address, protocol, source and destination port, in and out interface, conntrack state),
//! each dimension an exact set of intervals. Interfaces are mapped to a finite set of atoms:
//! every literal name used in the chain, for every `prefix+` one name with that prefix and no
//! other pattern's, and one name matching nothing — so `+` wildcards are decided exactly.
//! The later rule's box is covered by subtracting the earlier boxes.
//!
//! Undecidable here (see docs/explain-and-lint.md): any other match (addrtype, marks, tcp
//! flags, limit, recent, set, multiport `--ports`, ctstate SNAT/DNAT, ...). An earlier rule with
//! such a match never counts as covering; a later rule's such matches only make it narrower, so a
//! shadow claim stays sound.

use nfwalk_model::ruleset::{Chain, IfacePattern, PortDir};
use nfwalk_model::{MatchKind, Rule, Target};
use std::net::IpAddr;

/// A set of `u64` as sorted, disjoint, inclusive intervals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set(pub Vec<(u64, u64)>);

impl Set {
    fn full(max: u64) -> Set {
        Set(vec![(0, max)])
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn from_ranges(mut v: Vec<(u64, u64)>) -> Set {
        v.sort();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (lo, hi) in v {
            if let Some(last) = out.last_mut() {
                if lo <= last.1.saturating_add(1) {
                    last.1 = last.1.max(hi);
                    continue;
                }
            }
            out.push((lo, hi));
        }
        Set(out)
    }
    fn complement(&self, max: u64) -> Set {
        let mut out = Vec::new();
        let mut next = 0u64;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi.saturating_add(1);
            if hi == max {
                return Set(out);
            }
        }
        if next <= max {
            out.push((next, max));
        }
        Set(out)
    }
    fn intersect(&self, o: &Set) -> Set {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < o.0.len() {
            let lo = self.0[i].0.max(o.0[j].0);
            let hi = self.0[i].1.min(o.0[j].1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if self.0[i].1 < o.0[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Set(out)
    }
    fn minus(&self, o: &Set, max: u64) -> Set {
        self.intersect(&o.complement(max))
    }
}

const DIMS: usize = 8;
const MAX: [u64; DIMS] = [u32::MAX as u64, u32::MAX as u64, 255, 65535, 65535, 0, 0, 4];

/// A box: one set per dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cube([Set; DIMS]);

struct Atoms {
    reps: Vec<String>,
}

impl Atoms {
    fn of_chain(c: &Chain) -> Atoms {
        let mut lits = Vec::new();
        let mut prefixes = Vec::new();
        for r in &c.rules {
            for m in &r.matches {
                if let MatchKind::InIface { iface } | MatchKind::OutIface { iface } = &m.kind {
                    match iface.0.strip_suffix('+') {
                        Some(p) => prefixes.push(p.to_string()),
                        None => lits.push(iface.0.clone()),
                    }
                }
            }
        }
        let mut reps: Vec<String> = lits;
        for p in prefixes {
            reps.push(format!("{p}\u{7f}"));
        }
        reps.push("\u{7f}".into());
        reps.sort();
        reps.dedup();
        Atoms { reps }
    }
    fn max(&self) -> u64 {
        self.reps.len() as u64 - 1
    }
    fn set(&self, p: &IfacePattern) -> Set {
        Set::from_ranges(
            self.reps
                .iter()
                .enumerate()
                .filter(|(_, n)| p.matches(n))
                .map(|(i, _)| (i as u64, i as u64))
                .collect(),
        )
    }
}

fn net_set(net: &ipnet::IpNet) -> Option<Set> {
    match net {
        ipnet::IpNet::V4(n) => Some(Set(vec![(
            u32::from(n.network()) as u64,
            u32::from(n.broadcast()) as u64,
        )])),
        _ => None,
    }
}

fn v4(a: &IpAddr) -> Option<u64> {
    match a {
        IpAddr::V4(x) => Some(u32::from(*x) as u64),
        _ => None,
    }
}

/// The rule's box and whether it is exact (all its matches decidable).
fn cube(r: &Rule, atoms: &Atoms) -> (Cube, bool) {
    let amax = atoms.max();
    let maxes = [MAX[0], MAX[1], MAX[2], MAX[3], MAX[4], amax, amax, MAX[7]];
    let mut c = Cube(std::array::from_fn(|i| Set::full(maxes[i])));
    let mut exact = true;
    for m in &r.matches {
        let dim_set: Option<(usize, Set)> = match &m.kind {
            MatchKind::Src { net } => net_set(net).map(|s| (0, s)),
            MatchKind::Dst { net } => net_set(net).map(|s| (1, s)),
            MatchKind::SrcRange { lo, hi } => v4(lo).zip(v4(hi)).map(|(l, h)| (0, Set::from_ranges(vec![(l, h)]))),
            MatchKind::DstRange { lo, hi } => v4(lo).zip(v4(hi)).map(|(l, h)| (1, Set::from_ranges(vec![(l, h)]))),
            MatchKind::Proto { proto } => Some((
                2,
                match proto {
                    Some(p) => Set(vec![(p.0 as u64, p.0 as u64)]),
                    None => Set::full(255),
                },
            )),
            MatchKind::SrcPort { range } => Some((3, Set(vec![(range.lo as u64, range.hi as u64)]))),
            MatchKind::DstPort { range } => Some((4, Set(vec![(range.lo as u64, range.hi as u64)]))),
            MatchKind::Multiport { dir, ports } if *dir != PortDir::Either => Some((
                if *dir == PortDir::Src { 3 } else { 4 },
                Set::from_ranges(ports.iter().map(|p| (p.lo as u64, p.hi as u64)).collect()),
            )),
            MatchKind::InIface { iface } => Some((5, atoms.set(iface))),
            MatchKind::OutIface { iface } => Some((6, atoms.set(iface))),
            MatchKind::CtState { states } if states.0 & (32 | 64) == 0 => {
                let bits = [1u8, 2, 4, 8, 16];
                Some((
                    7,
                    Set::from_ranges(
                        bits.iter()
                            .enumerate()
                            .filter(|(_, b)| states.0 & **b != 0)
                            .map(|(i, _)| (i as u64, i as u64))
                            .collect(),
                    ),
                ))
            }
            MatchKind::Comment { .. } => continue,
            _ => None,
        };
        match dim_set {
            Some((d, s)) => {
                let s = if m.negated { s.complement(maxes[d]) } else { s };
                c.0[d] = c.0[d].intersect(&s);
            }
            None => exact = false,
        }
    }
    (c, exact)
}

fn subtract(a: &Cube, b: &Cube, maxes: &[u64; DIMS]) -> Vec<Cube> {
    let inter: Vec<Set> = (0..DIMS).map(|d| a.0[d].intersect(&b.0[d])).collect();
    if inter.iter().any(|s| s.is_empty()) {
        return vec![a.clone()];
    }
    let mut out = Vec::new();
    let mut rest = a.clone();
    for d in 0..DIMS {
        let diff = rest.0[d].minus(&b.0[d], maxes[d]);
        if !diff.is_empty() {
            let mut piece = rest.clone();
            piece.0[d] = diff;
            out.push(piece);
        }
        rest.0[d] = inter[d].clone();
    }
    out
}

fn covered<'a>(c: &Cube, by: impl Iterator<Item = &'a Cube>, maxes: &[u64; DIMS]) -> bool {
    let mut remaining = vec![c.clone()];
    for b in by {
        remaining = remaining.iter().flat_map(|r| subtract(r, b, maxes)).collect();
        if remaining.is_empty() {
            return true;
        }
        if remaining.len() > 4096 {
            return false;
        }
    }
    remaining.is_empty()
}

/// Whether a target ends the chain for a packet that matches.
pub fn is_terminal(t: &Target) -> bool {
    matches!(
        t,
        Target::Accept
            | Target::Drop
            | Target::Reject { .. }
            | Target::Return
            | Target::Goto { .. }
            | Target::Dnat { .. }
            | Target::Snat { .. }
            | Target::Masquerade { .. }
            | Target::Redirect { .. }
            | Target::Netmap { .. }
    )
}

/// A rule that can never fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shadowed {
    /// 0-based index of the rule.
    pub index: usize,
    /// 0-based indices of the earlier rules that together cover it.
    pub by: Vec<usize>,
    /// The rule's own matches contradict each other.
    pub empty: bool,
}

/// Every rule of a chain that earlier terminal rules shadow.
pub fn shadowed(c: &Chain) -> Vec<Shadowed> {
    let atoms = Atoms::of_chain(c);
    let amax = atoms.max();
    let maxes = [MAX[0], MAX[1], MAX[2], MAX[3], MAX[4], amax, amax, MAX[7]];
    let cubes: Vec<(Cube, bool)> = c.rules.iter().map(|r| cube(r, &atoms)).collect();
    let mut out = Vec::new();
    for (j, (cj, _)) in cubes.iter().enumerate() {
        if cj.0.iter().any(|s| s.is_empty()) {
            out.push(Shadowed {
                index: j,
                by: vec![],
                empty: true,
            });
            continue;
        }
        let mut remaining = vec![cj.clone()];
        let mut by = Vec::new();
        let mut gave_up = false;
        for (i, (ci, exact)) in cubes.iter().enumerate().take(j) {
            if !exact || !is_terminal(&c.rules[i].target) || ci.0.iter().any(|s| s.is_empty()) {
                continue;
            }
            let mut next = Vec::new();
            let mut touched = false;
            for r in &remaining {
                let parts = subtract(r, ci, &maxes);
                if parts.len() != 1 || parts[0] != *r {
                    touched = true;
                }
                next.extend(parts);
            }
            if touched {
                by.push(i);
            }
            remaining = next;
            if remaining.is_empty() {
                break;
            }
            if remaining.len() > 4096 {
                gave_up = true;
                break;
            }
        }
        if remaining.is_empty() && !gave_up {
            // Name only the rules needed: drop each coverer the others do without.
            let mut k = 0;
            while k < by.len() {
                let mut without = by.clone();
                without.remove(k);
                if covered(cj, without.iter().map(|i| &cubes[*i].0), &maxes) {
                    by = without;
                } else {
                    k += 1;
                }
            }
            out.push(Shadowed {
                index: j,
                by,
                empty: false,
            });
        }
    }
    out
}
