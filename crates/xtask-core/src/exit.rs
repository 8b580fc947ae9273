//! The exit codes of a run: the one list the command line, its documentation and the tests
//! share.

/// How a run of `xtask` ends, as its process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: every job passed (skipped jobs included), or the command did what was asked.
    Ok = 0,
    /// 1: a job failed (or could not run because one it needs failed), or a built-in command
    /// (`definitions --check`, `workflow`, `init`) failed.
    Failed = 1,
    /// 2: the command line or a script is wrong: unknown task, option or job, a syntax error,
    /// an error in a script's top level, a cycle or unknown name in `needs`.
    Usage = 2,
    /// 130 (128 + SIGINT): interrupted by Ctrl-C, SIGTERM, SIGHUP or SIGQUIT, after cleanup.
    Interrupted = 130,
}

impl Exit {
    /// Every exit code, in numeric order.
    pub const ALL: [Exit; 4] = [Exit::Ok, Exit::Failed, Exit::Usage, Exit::Interrupted];

    /// The process exit code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The exit this code stands for, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| e.code() == code)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meaning = match self {
            Exit::Ok => "ok",
            Exit::Failed => "failed",
            Exit::Usage => "usage or script error",
            Exit::Interrupted => "interrupted",
        };
        write!(f, "{} ({meaning})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for exit in Exit::ALL {
            assert_eq!(Exit::from_code(exit.code()), Some(exit));
        }
        assert_eq!(Exit::from_code(3), None);
        assert_eq!(Exit::Interrupted.to_string(), "130 (interrupted)");
    }
}
