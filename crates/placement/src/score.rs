//! The static CRS score: how well each online node would carry one more service, judged by the CPU and memory the
//! services already commit there (pve-ha-manager `Usage::Static` over proxmox-resource-scheduling).
//!
//! Each candidate target is one alternative of a TOPSIS ranking over four criteria, all to be minimised, with the
//! service placed on that target: one plus the root mean square of the CPU commitments across the online nodes, one
//! plus the highest, and the same two for memory; weights 1, 2, 5 and 10. Commitments are fractions of each node's
//! capacity. A service without a CPU limit (`maxcpu` 0) commits the whole node's CPUs.
//!
//! This is the current proxmox-resource-scheduling scheduler. Its older form ranked by the plain average instead of
//! the root mean square; with it, upstream's `test-crs-static-rebalance2` and
//! `test-crs-static-rebalance-resource-affinity2`/`3` do not hold, with this one every ported static test does.

use crate::types::{NodeStats, ServiceStats};

/// CPU and memory committed on one node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Load {
    /// CPUs committed.
    pub cpu: f64,
    /// Bytes committed (as f64: sums of byte counts stay exact far beyond any cluster's memory).
    pub mem: f64,
}

impl Load {
    /// The load with `service` added (`sign` 1.0) or taken away (-1.0) on a node of capacity `node`.
    pub fn with(self, node: &NodeStats, service: &ServiceStats, sign: f64) -> Load {
        let cpu = if service.maxcpu == 0.0 {
            node.cpus
        } else {
            service.maxcpu
        };
        Load {
            cpu: self.cpu + sign * cpu,
            mem: self.mem + sign * service.maxmem as f64,
        }
    }
}

/// Criterion weights, in the order average CPU, highest CPU, average memory, highest memory.
const WEIGHTS: [f64; 4] = [1.0, 2.0, 5.0, 10.0];

/// TOPSIS closeness of each alternative to the ideal: 1 is best, 0 worst (or all alternatives alike).
fn topsis(rows: &[[f64; 4]]) -> Vec<f64> {
    let total: f64 = WEIGHTS.iter().sum();
    let mut normalised = rows.to_vec();
    for k in 0..4 {
        let norm = rows.iter().map(|r| r[k] * r[k]).sum::<f64>().sqrt();
        if norm != 0.0 {
            for row in &mut normalised {
                row[k] /= norm;
            }
        }
    }
    let mut best = [f64::INFINITY; 4];
    let mut worst = [f64::NEG_INFINITY; 4];
    for row in &normalised {
        for k in 0..4 {
            best[k] = best[k].min(row[k]);
            worst[k] = worst[k].max(row[k]);
        }
    }
    let distance = |row: &[f64; 4], ideal: &[f64; 4]| -> f64 {
        (0..4)
            .map(|k| {
                let d = (row[k] - ideal[k]) * WEIGHTS[k] / total;
                d * d
            })
            .sum::<f64>()
            .sqrt()
    };
    normalised
        .iter()
        .map(|row| {
            let to_best = distance(row, &best);
            let to_worst = distance(row, &worst);
            let sum = to_best + to_worst;
            if sum == 0.0 {
                0.0
            } else {
                to_worst / sum
            }
        })
        .collect()
}

/// The static score of placing `service` on each of `nodes` (capacity, current load), in the same order; higher is
/// better. Every node in `nodes` counts in the averages and maxima, as upstream scores all online nodes.
pub(crate) fn static_scores(nodes: &[(NodeStats, Load)], service: &ServiceStats) -> Vec<f64> {
    let n = nodes.len() as f64;
    let fractions: Vec<(f64, f64)> = nodes
        .iter()
        .map(|(cap, load)| (load.cpu / cap.cpus, load.mem / cap.memory as f64))
        .collect();
    let squares_cpu: f64 = fractions.iter().map(|f| f.0 * f.0).sum();
    let squares_mem: f64 = fractions.iter().map(|f| f.1 * f.1).sum();
    // The highest and second-highest fractions (with the index of the highest), so that the maximum over the other
    // nodes costs nothing per alternative.
    let top2 = |pick: fn(&(f64, f64)) -> f64| {
        let mut first = (f64::NEG_INFINITY, usize::MAX);
        let mut second = f64::NEG_INFINITY;
        for (i, f) in fractions.iter().enumerate() {
            let v = pick(f);
            if v > first.0 {
                second = first.0;
                first = (v, i);
            } else if v > second {
                second = v;
            }
        }
        (first, second)
    };
    let (cpu_top, cpu_second) = top2(|f| f.0);
    let (mem_top, mem_second) = top2(|f| f.1);
    let rows: Vec<[f64; 4]> = nodes
        .iter()
        .enumerate()
        .map(|(t, (cap, load))| {
            let placed = load.with(cap, service, 1.0);
            let cpu = placed.cpu / cap.cpus;
            let mem = placed.mem / cap.memory as f64;
            let (old_cpu, old_mem) = fractions[t];
            let others_cpu = if cpu_top.1 == t {
                cpu_second
            } else {
                cpu_top.0
            };
            let others_mem = if mem_top.1 == t {
                mem_second
            } else {
                mem_top.0
            };
            // The total minus the old square plus the new one: alternatives that are alike get bit-identical rows,
            // so their tie is broken by name as upstream intends (its own sum runs in hash order).
            let rms =
                |squares: f64, old: f64, new: f64| ((squares - old * old + new * new) / n).sqrt();
            [
                1.0 + rms(squares_cpu, old_cpu, cpu),
                1.0 + cpu.max(others_cpu),
                1.0 + rms(squares_mem, old_mem, mem),
                1.0 + mem.max(others_mem),
            ]
        })
        .collect();
    topsis(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cpus: f64, gb: u64) -> NodeStats {
        NodeStats {
            cpus,
            memory: gb * 1_000_000_000,
        }
    }

    fn service(maxcpu: f64, gb: u64) -> ServiceStats {
        ServiceStats {
            maxcpu,
            maxmem: gb * 1_000_000_000,
        }
    }

    #[test]
    fn the_node_with_most_free_memory_scores_best() {
        // test-crs-static1: equal CPUs, 100/200/300 GB, nothing running.
        let nodes = [
            (node(32.0, 100), Load::default()),
            (node(32.0, 200), Load::default()),
            (node(32.0, 300), Load::default()),
        ];
        let scores = static_scores(&nodes, &service(2.0, 4));
        assert!(scores[2] > scores[1] && scores[1] > scores[0], "{scores:?}");
    }

    #[test]
    fn identical_nodes_tie_exactly() {
        let busy = Load { cpu: 3.0, mem: 7e9 };
        let nodes = [
            (node(8.0, 64), Load::default()),
            (node(8.0, 64), busy),
            (node(8.0, 64), Load::default()),
            (node(8.0, 64), Load::default()),
        ];
        let scores = static_scores(&nodes, &service(1.5, 3));
        assert_eq!(scores[0], scores[2]);
        assert_eq!(scores[0], scores[3]);
        assert!(scores[1] < scores[0]);
    }

    #[test]
    fn an_unlimited_cpu_commits_the_whole_node() {
        let cap = node(16.0, 10);
        let load = Load::default().with(&cap, &service(0.0, 1), 1.0);
        assert_eq!(load.cpu, 16.0);
        assert_eq!(load.with(&cap, &service(0.0, 1), -1.0), Load::default());
    }

    #[test]
    fn all_alike_scores_zero() {
        let nodes = [(node(4.0, 4), Load::default())];
        assert_eq!(static_scores(&nodes, &service(1.0, 1)), [0.0]);
    }
}
