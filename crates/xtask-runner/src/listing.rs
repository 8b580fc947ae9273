//! What `--list`, `--list <task>` (also as JSON) and `--dry-run` print: tasks, jobs and plans,
//! without running anything.

use crate::graph::Plan;
use crate::project;
use crate::reporter::style::Style;

pub fn print_task_list(tasks: &[project::Task], json: bool) {
    if json {
        let list: Vec<serde_json::Value> = tasks
            .iter()
            .map(|t| serde_json::json!({ "name": t.name, "description": t.description }))
            .collect();
        println!("{}", serde_json::json!({ "tasks": list }));
        return;
    }
    print!("{}", task_list(tasks));
}

pub fn task_list(tasks: &[project::Task]) -> String {
    if tasks.is_empty() {
        return "no tasks: add one as tasks/<name>.rhai\n".into();
    }
    let width = tasks.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut out = String::from("tasks:\n");
    for t in tasks {
        out.push_str(format!("  {:<width$}  {}", t.name, t.description).trim_end());
        out.push('\n');
    }
    out
}

pub fn print_jobs(task: &str, tasks: &[project::Task], plan: &Plan, json: bool) {
    let description = tasks
        .iter()
        .find(|t| t.name == task)
        .map(|t| t.description.as_str())
        .unwrap_or("");
    if json {
        let jobs: Vec<serde_json::Value> = plan
            .jobs
            .iter()
            .map(|j| {
                let matrix: serde_json::Map<String, serde_json::Value> = j
                    .matrix
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.label.clone())))
                    .collect();
                serde_json::json!({
                    "name": j.name,
                    "job": j.base,
                    "needs": j.needs.iter().map(|&n| plan.jobs[n].name.clone()).collect::<Vec<_>>(),
                    "matrix": matrix,
                    "description": j.def.description,
                    "timeout_secs": j.def.timeout.map(|t| t.as_secs_f64()),
                    "retries": j.def.retries,
                    "inputs": j.def.inputs,
                    "outputs": j.def.outputs,
                    "defined_at": j.def.defined_at,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "task": task, "description": description, "jobs": jobs })
        );
        return;
    }
    println!("{task}: {description}");
    let width = plan.jobs.iter().map(|j| j.name.len()).max().unwrap_or(0);
    for job in &plan.jobs {
        let needs: Vec<&str> = job
            .needs
            .iter()
            .map(|&n| plan.jobs[n].name.as_str())
            .collect();
        let needs = if needs.is_empty() {
            String::new()
        } else {
            format!("needs: {}", needs.join(", "))
        };
        let about = job
            .def
            .description
            .as_deref()
            .map(|d| format!("  {d}"))
            .unwrap_or_default();
        println!(
            "{}",
            format!("  {:<width$}  {needs}{about}", job.name).trim_end()
        );
    }
}

pub fn print_plan(task: &str, plan: &Plan, parallel: usize, style: Style) {
    println!(
        "{}",
        style.bold(&format!(
            "plan for `{task}`: {} jobs, up to {parallel} at once",
            plan.jobs.len()
        ))
    );
    for (i, job) in plan.jobs.iter().enumerate() {
        let mut line = format!("{:>3}. {}", i + 1, job.name);
        if !job.needs.is_empty() {
            let needs: Vec<&str> = job
                .needs
                .iter()
                .map(|&n| plan.jobs[n].name.as_str())
                .collect();
            line.push_str(&style.dim(&format!("  (after {})", needs.join(", "))));
        }
        if let Some(t) = job.def.timeout {
            line.push_str(&style.dim(&format!("  timeout {}", crate::duration::format(t))));
        }
        if job.def.retries > 0 {
            line.push_str(&style.dim(&format!("  retries {}", job.def.retries)));
        }
        if let crate::graph::Condition::Never { reason } = &job.def.condition {
            line.push_str(&style.yellow(&format!("  skipped: {reason}")));
        }
        println!("{line}");
    }
}
