//! Matrix pairing in `needs`: a need may name some combinations of another matrix job, by
//! value (`"docker-build (variant=debug)"`) or by the needing job's own value
//! (`"docker-build (variant={variant})"`), so `docker-test (variant=debug)` waits only for
//! `docker-build (variant=debug)` and a variant pipeline needs no per-variant job functions.

use std::collections::HashMap;

use super::PlannedJob;

/// Replaces `{axis}` with the needing job's value on that axis.
pub fn fill(need: &str, job: &PlannedJob) -> Result<String, String> {
    if !need.contains('{') {
        return Ok(need.to_string());
    }
    let mut out = String::with_capacity(need.len());
    let mut rest = need;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(format!(
                "job `{}` (declared at {}): need `{need}` has an unclosed `{{`",
                job.def.name, job.def.defined_at
            ));
        };
        let axis = &rest[open + 1..open + close];
        match job.matrix.get(axis) {
            Some(value) => out.push_str(&value.label),
            None => {
                let axes: Vec<&str> = job.matrix.keys().map(String::as_str).collect();
                return Err(format!(
                    "job `{}` (declared at {}): need `{need}` uses `{{{axis}}}`, but the job has no matrix axis `{axis}`{}",
                    job.def.name,
                    job.def.defined_at,
                    if axes.is_empty() {
                        " (it has no matrix)".to_string()
                    } else {
                        format!(" (axes: {})", axes.join(", "))
                    }
                ));
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `name (k=v, …)`: the expansions of `name` whose values match every `k=v` given. `None` when
/// `need` does not have that shape or `name` is not a job (the caller reports it).
pub fn select(
    need: &str,
    jobs: &[PlannedJob],
    by_base: &HashMap<String, Vec<usize>>,
    job: &PlannedJob,
) -> Result<Option<Vec<usize>>, String> {
    let Some((base, selector)) = need.strip_suffix(')').and_then(|n| n.split_once(" (")) else {
        return Ok(None);
    };
    let Some(ids) = by_base.get(base) else {
        return Ok(None);
    };
    let mut wanted = Vec::new();
    for part in selector.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "job `{}` (declared at {}): need `{need}`: expected `axis=value` pairs in the parentheses",
                job.def.name, job.def.defined_at
            ));
        };
        wanted.push((key.trim(), value.trim()));
    }
    let axes: Vec<&str> = jobs[ids[0]].matrix.keys().map(String::as_str).collect();
    if let Some((key, _)) = wanted.iter().find(|(k, _)| !axes.contains(k)) {
        return Err(format!(
            "job `{}` (declared at {}): need `{need}`: `{base}` has no matrix axis `{key}` (axes: {})",
            job.def.name,
            job.def.defined_at,
            if axes.is_empty() { "none".to_string() } else { axes.join(", ") }
        ));
    }
    let hits: Vec<usize> = ids
        .iter()
        .copied()
        .filter(|&id| {
            wanted.iter().all(|(k, v)| {
                jobs[id]
                    .matrix
                    .get(*k)
                    .is_some_and(|actual| actual.label == *v)
            })
        })
        .collect();
    if hits.is_empty() {
        let names: Vec<&str> = ids.iter().map(|&id| jobs[id].name.as_str()).collect();
        return Err(format!(
            "job `{}` (declared at {}): need `{need}` matches no combination of `{base}` ({})",
            job.def.name,
            job.def.defined_at,
            names.join(", ")
        ));
    }
    Ok(Some(hits))
}
