//! Which ready job to start first: the one heading the longest remaining chain of work, so the
//! run's tail is not one long job started last. Durations come from earlier runs
//! (`durations.rs`); a job never seen counts as the typical known job.

use std::collections::HashMap;

use crate::graph::Plan;

/// Per job id: its own expected seconds plus the longest chain of dependents after it.
pub fn priorities(plan: &Plan, seconds: &HashMap<String, f64>) -> Vec<f64> {
    let n = plan.jobs.len();
    let typical = typical(plan, seconds);
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for job in &plan.jobs {
        for &need in &job.needs {
            dependents[need].push(job.id);
        }
    }
    let mut chain = vec![0.0; n];
    // Plan order puts every job after what it needs, so walking it backwards sees dependents
    // first.
    for job in plan.jobs.iter().rev() {
        let own = seconds.get(&job.name).copied().unwrap_or(typical);
        let after = dependents[job.id]
            .iter()
            .map(|&d| chain[d])
            .fold(0.0, f64::max);
        chain[job.id] = own + after;
    }
    chain
}

/// The median of the known durations of this plan's jobs; one second when none is known.
fn typical(plan: &Plan, seconds: &HashMap<String, f64>) -> f64 {
    let mut known: Vec<f64> = plan
        .jobs
        .iter()
        .filter_map(|j| seconds.get(&j.name).copied())
        .collect();
    if known.is_empty() {
        return 1.0;
    }
    known.sort_by(f64::total_cmp);
    known[known.len() / 2]
}
