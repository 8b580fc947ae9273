//! `xtask`: CI pipelines as Rhai scripts, run as a parallel job graph (see the `xtask-runner`
//! library; this binary is its command line with the built-in primitives).

fn main() -> std::process::ExitCode {
    xtask_runner::main()
}
