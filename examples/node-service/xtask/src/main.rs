fn main() -> std::process::ExitCode {
    xtask_runner::main()
}
