//! Activation memory: how much RAM a model's intermediate tensors need on a microcontroller.
//!
//! Two figures over the same tensor lifetimes (positions in the execution order):
//! - [`peak_live_bytes`]: the largest sum of tensors alive at one step — a lower bound no planner
//!   can beat;
//! - [`greedy_arena`]: what an MCU runtime's planner allocates when it places every tensor at an
//!   offset of one arena, largest first, at the lowest offset that does not collide with a
//!   tensor alive at the same time — TensorFlow Lite Micro's `GreedyMemoryPlanner` strategy.
//!
//! tract has no such planner (it sums live outputs without reuse), hence this module.

/// One tensor that needs arena space: its size and the steps it is alive in (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Bytes.
    pub bytes: u64,
    /// Step at which it is produced.
    pub first: usize,
    /// Last step at which it is read.
    pub last: usize,
}

impl Lifetime {
    fn overlaps(&self, other: &Lifetime) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// The largest sum of simultaneously live tensors.
pub fn peak_live_bytes(tensors: &[Lifetime]) -> u64 {
    let Some(end) = tensors.iter().map(|t| t.last).max() else {
        return 0;
    };
    // A sweep over step boundaries: +bytes at first, −bytes after last.
    let mut delta = vec![0i128; end + 2];
    for t in tensors {
        delta[t.first] += i128::from(t.bytes);
        delta[t.last + 1] -= i128::from(t.bytes);
    }
    let mut live = 0i128;
    let mut peak = 0i128;
    for d in delta {
        live += d;
        peak = peak.max(live);
    }
    peak as u64
}

/// Offsets of every tensor in one arena (same order as `tensors`) and the arena's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArenaPlan {
    /// Byte offset of each tensor.
    pub offsets: Vec<u64>,
    /// Arena size: the highest end of any tensor.
    pub bytes: u64,
}

/// Places tensors greedily, largest first (ties: earlier first), each at the lowest offset that
/// fits between tensors already placed whose lifetimes overlap its own. `alignment` rounds every
/// offset up (TFLM aligns to 16 bytes).
pub fn greedy_arena(tensors: &[Lifetime], alignment: u64) -> ArenaPlan {
    let align = |v: u64| {
        if alignment > 1 {
            v.div_ceil(alignment) * alignment
        } else {
            v
        }
    };
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        tensors[b]
            .bytes
            .cmp(&tensors[a].bytes)
            .then(tensors[a].first.cmp(&tensors[b].first))
    });
    let mut offsets = vec![0u64; tensors.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(tensors.len());
    let mut arena = 0u64;
    for &i in &order {
        let tensor = &tensors[i];
        // Tensors alive at the same time, by offset.
        let mut neighbours: Vec<usize> = placed
            .iter()
            .copied()
            .filter(|&j| tensors[j].overlaps(tensor))
            .collect();
        neighbours.sort_by_key(|&j| offsets[j]);
        let mut candidate = 0u64;
        for j in neighbours {
            if offsets[j] >= candidate + tensor.bytes {
                break; // The gap before this neighbour is large enough.
            }
            candidate = candidate.max(align(offsets[j] + tensors[j].bytes));
        }
        offsets[i] = candidate;
        arena = arena.max(candidate + tensor.bytes);
        placed.push(i);
    }
    ArenaPlan { offsets, bytes: arena }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bytes: u64, first: usize, last: usize) -> Lifetime {
        Lifetime { bytes, first, last }
    }

    #[test]
    fn a_chain_reuses_memory_two_tensors_at_a_time() {
        // input → a → b → c → output, each read by the next step only.
        let chain = [t(100, 0, 1), t(50, 1, 2), t(80, 2, 3), t(30, 3, 4)];
        assert_eq!(peak_live_bytes(&chain), 150);
        let plan = greedy_arena(&chain, 1);
        assert_eq!(plan.bytes, 150);
        // No two overlapping tensors share bytes.
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                if i < j && a.overlaps(b) {
                    let (oa, ob) = (plan.offsets[i], plan.offsets[j]);
                    assert!(oa + a.bytes <= ob || ob + b.bytes <= oa, "{i} and {j} collide");
                }
            }
        }
    }

    #[test]
    fn a_skip_connection_keeps_its_tensor_alive() {
        // x is read at step 3 again (a residual add): x, a, b alive together.
        let residual = [t(64, 0, 3), t(64, 1, 2), t(64, 2, 3), t(64, 3, 4)];
        assert_eq!(peak_live_bytes(&residual), 192);
        assert!(greedy_arena(&residual, 1).bytes >= 192);
    }

    #[test]
    fn alignment_rounds_offsets_and_the_plan_never_beats_the_bound() {
        let tensors = [t(10, 0, 1), t(10, 0, 1), t(7, 1, 2)];
        let plan = greedy_arena(&tensors, 16);
        assert!(plan.offsets.iter().all(|o| o % 16 == 0));
        assert!(plan.bytes >= peak_live_bytes(&tensors));
        assert_eq!(greedy_arena(&[], 16).bytes, 0);
        assert_eq!(peak_live_bytes(&[]), 0);
    }
}
