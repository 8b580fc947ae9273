//! A local container's counters read from its cgroup: the files the engine itself reads for its
//! stats. Through the API, a `stats()` call waits for the engine's next once-a-second sample
//! (about 1 s); here CPU use is measured over the API module's window and nothing else waits.
//!
//! Used only for a container whose main process this process can see: the engine reports the
//! process id, and that process's `/proc/<pid>/cgroup` must name the container's id. A process
//! id from another PID namespace (the engine's socket shared into a container, an engine in a
//! VM) names some other process or none, so the id check sends those to the API. Both cgroup
//! v1 (a hierarchy per controller) and v2 (one unified hierarchy) are read; anything unexpected
//! gives `None`, and the caller asks the engine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::api::{Sample, Stats};

/// The files one container's figures come from.
#[derive(Debug)]
pub struct Counters {
    /// `/`, or a test's tree standing in for it.
    root: PathBuf,
    cpu: Cpu,
    memory: Memory,
    pids: Option<PathBuf>,
}

#[derive(Debug)]
enum Cpu {
    /// v1 `cpuacct.usage`: nanoseconds.
    Nanos(PathBuf),
    /// v2 `cpu.stat`: its `usage_usec` line.
    Stat(PathBuf),
}

/// The memory controller's directory.
#[derive(Debug)]
enum Memory {
    V1(PathBuf),
    V2(PathBuf),
}

/// One line of `/proc/<pid>/cgroup`: hierarchy, controllers, path.
struct Membership<'a> {
    hierarchy: &'a str,
    controllers: Vec<&'a str>,
    path: &'a str,
}

/// One cgroup filesystem of `/proc/self/mountinfo`.
struct Mount<'a> {
    /// The cgroup its mount point shows.
    root: &'a str,
    point: &'a str,
    v2: bool,
    options: Vec<&'a str>,
}

impl Counters {
    /// The counters of container `id`, whose main process is `pid`; `None` where they cannot be
    /// found, or where the process is not the container's.
    pub fn find(root: &Path, pid: i64, id: &str) -> Option<Counters> {
        if pid <= 0 || id.len() < 12 {
            return None;
        }
        let cgroups = read(&root.join(format!("proc/{pid}/cgroup")))?;
        if !cgroups.contains(id) {
            return None;
        }
        let mountinfo = read(&root.join("proc/self/mountinfo"))?;
        let mounts: Vec<Mount> = mountinfo.lines().filter_map(mount).collect();
        let memberships: Vec<Membership> = cgroups.lines().filter_map(membership).collect();
        // Where a cgroup path shows under a mount: the mount shows its root's subtree.
        let under = |m: &Mount, path: &str| -> Option<PathBuf> {
            let rest = match m.root {
                "/" => path,
                r => path.strip_prefix(r)?,
            };
            let dir = root
                .join(m.point.trim_start_matches('/'))
                .join(rest.trim_start_matches('/'));
            dir.is_dir().then_some(dir)
        };
        let v1 = |controller: &str| {
            let member = memberships
                .iter()
                .find(|m| m.hierarchy != "0" && m.controllers.contains(&controller))?;
            let mount = mounts
                .iter()
                .find(|m| !m.v2 && m.options.contains(&controller))?;
            under(mount, member.path)
        };
        let v2 = || {
            let member = memberships
                .iter()
                .find(|m| m.hierarchy == "0" && m.controllers.is_empty())?;
            let mount = mounts.iter().find(|m| m.v2)?;
            under(mount, member.path)
        };
        // A v2 hierarchy beside v1 controllers (hybrid) holds no counters: v1 goes first.
        let file =
            |dir: Option<PathBuf>, name: &str| dir.map(|d| d.join(name)).filter(|f| f.is_file());
        let cpu = match file(v1("cpuacct"), "cpuacct.usage") {
            Some(f) => Cpu::Nanos(f),
            None => Cpu::Stat(file(v2(), "cpu.stat")?),
        };
        let memory = match v1("memory").filter(|d| d.join("memory.usage_in_bytes").is_file()) {
            Some(dir) => Memory::V1(dir),
            None => Memory::V2(v2().filter(|d| d.join("memory.current").is_file())?),
        };
        let pids = file(v1("pids"), "pids.current").or_else(|| file(v2(), "pids.current"));
        Some(Counters {
            root: root.to_path_buf(),
            cpu,
            memory,
            pids,
        })
    }

    /// The figures now, CPU use over `window`.
    pub fn stats(&self, window: Duration) -> Option<Stats> {
        let before = self.cpu_and_system()?;
        std::thread::sleep(window);
        Some(self.sample()?.since(before))
    }

    /// The container's CPU time and the system's, in nanoseconds: all the first read needs.
    fn cpu_and_system(&self) -> Option<(f64, f64)> {
        let cpu = match &self.cpu {
            Cpu::Nanos(f) => number(&read(f)?)?,
            Cpu::Stat(f) => field(&read(f)?, "usage_usec")? * 1000.0,
        };
        Some((cpu, system_nanos(&read(&self.root.join("proc/stat"))?)?))
    }

    fn sample(&self) -> Option<Sample> {
        let (cpu, system) = self.cpu_and_system()?;
        let (usage, inactive, limit) = match &self.memory {
            Memory::V1(d) => (
                number(&read(&d.join("memory.usage_in_bytes"))?)?,
                field(&read(&d.join("memory.stat"))?, "total_inactive_file"),
                number(&read(&d.join("memory.limit_in_bytes"))?)?,
            ),
            Memory::V2(d) => (
                number(&read(&d.join("memory.current"))?)?,
                field(&read(&d.join("memory.stat"))?, "inactive_file"),
                // `max`: no limit of its own.
                number(&read(&d.join("memory.max"))?).unwrap_or(f64::INFINITY),
            ),
        };
        // Without a limit of its own (or one above it), the engine reports the host's memory.
        let host = field(&read(&self.root.join("proc/meminfo"))?, "MemTotal:")? * 1024.0;
        // SAFETY: sysconf reads a configuration value and touches no memory of ours.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        Some(Sample {
            memory: usage,
            inactive_file: inactive.unwrap_or(0.0),
            memory_limit: limit.min(host),
            cpu,
            system,
            online_cpus: online.max(1) as f64,
            pids: self
                .pids
                .as_ref()
                .and_then(|f| read(f))
                .and_then(|t| t.trim().parse().ok()),
        })
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<u64>().ok().map(|n| n as f64)
}

/// The value of a `key value` line (`memory.stat`, `cpu.stat`; `/proc/meminfo`'s `kB` after it
/// is left out).
fn field(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == key).then(|| number(words.next()?))?
    })
}

/// The system's time as the engine counts it: the first seven fields of `/proc/stat`'s `cpu`
/// line (user to softirq), in clock ticks, as nanoseconds.
fn system_nanos(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .map(number)
        .collect::<Option<_>>()?;
    // SAFETY: sysconf reads a configuration value and touches no memory of ours.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks.len() == 7 && per_second > 0)
        .then(|| ticks.iter().sum::<f64>() * 1e9 / per_second as f64)
}

/// `4:cpu,cpuacct:/docker/<id>`, or v2's `0::/system.slice/docker-<id>.scope`.
fn membership(line: &str) -> Option<Membership<'_>> {
    let mut parts = line.splitn(3, ':');
    let hierarchy = parts.next()?;
    let controllers = parts.next()?.split(',').filter(|c| !c.is_empty()).collect();
    Some(Membership {
        hierarchy,
        controllers,
        path: parts.next()?,
    })
}

/// A cgroup mount of `/proc/self/mountinfo`: `id parent dev root point options … - type source
/// super-options`.
fn mount(line: &str) -> Option<Mount<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split_whitespace().collect();
    let mut right = right.split_whitespace();
    let v2 = match right.next()? {
        "cgroup" => false,
        "cgroup2" => true,
        _ => return None,
    };
    let options = right.nth(1).unwrap_or("").split(',').collect();
    Some(Mount {
        root: fields.get(3)?,
        point: fields.get(4)?,
        v2,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6f89ffbaee7bc162c67456e9ee75a88f1f33649c778d8225425f367ffde1e1c2";

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const STAT: &str = "cpu  100 0 50 800 10 0 40 0 0 0\ncpu0 50 0 25 400 5 0 20 0 0 0\n";
    const MEMINFO: &str = "MemTotal:       1024 kB\nMemFree:         512 kB\n";

    #[test]
    fn v1_counters_one_hierarchy_per_controller() {
        let group = format!("docker/{ID}");
        let dir = tree(&[
            (
                "proc/42/cgroup",
                &format!(
                    "4:memory:/{group}\n2:cpu,cpuacct:/{group}\n8:pids:/{group}\n0::/{group}\n"
                ),
            ),
            (
                "proc/self/mountinfo",
                "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                 32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                 35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                 39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
                 41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            ),
            (
                &format!("sys/fs/cgroup/cpu,cpuacct/{group}/cpuacct.usage"),
                "3000000\n",
            ),
            (
                &format!("sys/fs/cgroup/memory/{group}/memory.usage_in_bytes"),
                "8192\n",
            ),
            (
                &format!("sys/fs/cgroup/memory/{group}/memory.stat"),
                "inactive_file 9\ntotal_inactive_file 4096\n",
            ),
            // No limit of its own: the host's memory, as the engine reports it.
            (
                &format!("sys/fs/cgroup/memory/{group}/memory.limit_in_bytes"),
                "9223372036854771712\n",
            ),
            (&format!("sys/fs/cgroup/pids/{group}/pids.current"), "2\n"),
            (
                &format!("sys/fs/cgroup/unified/{group}/cgroup.procs"),
                "42\n",
            ),
            ("proc/stat", STAT),
            ("proc/meminfo", MEMINFO),
        ]);
        let counters = Counters::find(dir.path(), 42, ID).unwrap();
        let sample = counters.sample().unwrap();
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        assert_eq!(sample.cpu, 3_000_000.0);
        assert_eq!(sample.system, 1000.0 * 1e9 / ticks);
        assert_eq!(
            (sample.memory, sample.inactive_file, sample.memory_limit),
            (8192.0, 4096.0, 1024.0 * 1024.0)
        );
        assert_eq!(sample.pids, Some(2));
        // Another process (another PID namespace's number) is not the container's.
        assert!(Counters::find(dir.path(), 42, &ID.replace('6', "7")).is_none());
        assert!(Counters::find(dir.path(), 43, ID).is_none());
    }

    #[test]
    fn v2_counters_in_one_unified_hierarchy() {
        let group = format!("system.slice/docker-{ID}.scope");
        let dir = tree(&[
            ("proc/7/cgroup", &format!("0::/{group}\n")),
            (
                "proc/self/mountinfo",
                "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
            ),
            (
                &format!("sys/fs/cgroup/{group}/cpu.stat"),
                "usage_usec 2500\nuser_usec 2000\n",
            ),
            (&format!("sys/fs/cgroup/{group}/memory.current"), "65536\n"),
            (
                &format!("sys/fs/cgroup/{group}/memory.stat"),
                "anon 100\ninactive_file 1024\n",
            ),
            (&format!("sys/fs/cgroup/{group}/memory.max"), "524288\n"),
            (&format!("sys/fs/cgroup/{group}/pids.current"), "3\n"),
            ("proc/stat", STAT),
            ("proc/meminfo", MEMINFO),
        ]);
        let counters = Counters::find(dir.path(), 7, ID).unwrap();
        let sample = counters.sample().unwrap();
        assert_eq!(sample.cpu, 2_500_000.0);
        assert_eq!(
            (sample.memory, sample.inactive_file, sample.memory_limit),
            (65536.0, 1024.0, 524288.0)
        );
        assert_eq!(sample.pids, Some(3));
        // `max`: the host's memory.
        std::fs::write(
            dir.path().join(format!("sys/fs/cgroup/{group}/memory.max")),
            "max\n",
        )
        .unwrap();
        assert_eq!(counters.sample().unwrap().memory_limit, 1024.0 * 1024.0);
        let stats = counters.stats(Duration::ZERO).unwrap();
        assert_eq!((stats.memory_bytes, stats.cpu_percent), (64512.0, 0.0));
    }

    #[test]
    fn a_mount_of_a_subtree_shows_the_paths_below_its_root() {
        let dir = tree(&[
            ("proc/9/cgroup", &format!("0::/outer/docker-{ID}.scope\n")),
            (
                "proc/self/mountinfo",
                "30 23 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            ),
            (
                &format!("sys/fs/cgroup/docker-{ID}.scope/cpu.stat"),
                "usage_usec 1\n",
            ),
            (
                &format!("sys/fs/cgroup/docker-{ID}.scope/memory.current"),
                "1\n",
            ),
        ]);
        let counters = Counters::find(dir.path(), 9, ID).unwrap();
        assert!(matches!(&counters.cpu, Cpu::Stat(f) if f.ends_with("cpu.stat")));
        assert!(counters.pids.is_none());
    }
}
