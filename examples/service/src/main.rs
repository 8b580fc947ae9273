//! `example-service` binary: parses the command line, binds, prints
//! `listening on http://ADDR` and serves until SIGINT/SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use example_service::config::{self, Command};
use example_service::handlers::AppState;
use example_service::server::Server;
use example_service::{signal, VERSION};

fn main() -> ExitCode {
    let command = config::parse_args(std::env::args().skip(1), |name| std::env::var(name).ok());
    let config = match command {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("example-service {VERSION}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("example-service: {message}\n\n{}", config::USAGE);
            return ExitCode::from(2);
        }
    };

    let state = AppState::new(config.database_url);
    let server = match Server::bind(config.listen.as_str(), state) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("example-service: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    signal::install(server.shutdown_handle());

    // Tests and scripts wait for exactly this line.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on http://{}", server.local_addr());
    let _ = stdout.flush();
    drop(stdout);

    let result = server.run();
    let mut stderr = std::io::stderr().lock();
    match result {
        Ok(()) => {
            let _ = writeln!(stderr, "example-service: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(stderr, "example-service: {e}");
            ExitCode::FAILURE
        }
    }
}
