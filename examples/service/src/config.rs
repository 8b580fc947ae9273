//! Command-line and environment configuration.

/// Listen address used when neither `--listen` nor `LISTEN_ADDR` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Text printed by `--help`.
pub const USAGE: &str = "\
Usage: example-service [--listen ADDR]

Options:
  -l, --listen ADDR   address to listen on (default: $LISTEN_ADDR, else 127.0.0.1:8080);
                      port 0 picks a free port
  -h, --help          print this help
  -V, --version       print the version

Environment:
  LISTEN_ADDR         listen address when --listen is not given
  DATABASE_URL        postgres://user@host:port/db checked by GET /health/deep
";

/// Runtime configuration of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// PostgreSQL URL for the deep health check, if any.
    pub database_url: Option<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Run(Config),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// Parses command-line arguments (without the program name), looking up
/// environment variables through `env`. `--listen` beats `LISTEN_ADDR`,
/// which beats [`DEFAULT_LISTEN`].
///
/// ```
/// use example_service::config::{parse_args, Command};
///
/// let env = |name: &str| (name == "LISTEN_ADDR").then(|| "0.0.0.0:9000".to_string());
/// let Command::Run(cfg) = parse_args(Vec::<String>::new(), env).unwrap() else { panic!() };
/// assert_eq!(cfg.listen, "0.0.0.0:9000");
///
/// let Command::Run(cfg) = parse_args(["--listen=127.0.0.1:0".to_string()], env).unwrap() else { panic!() };
/// assert_eq!(cfg.listen, "127.0.0.1:0");
/// ```
pub fn parse_args<I, F>(args: I, env: F) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
    F: Fn(&str) -> Option<String>,
{
    let mut listen = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-l" | "--listen" => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                listen = Some(value);
            }
            _ => {
                if let Some(value) = arg.strip_prefix("--listen=") {
                    listen = Some(value.to_string());
                } else {
                    return Err(format!("unexpected argument '{arg}'"));
                }
            }
        }
    }
    let non_empty = |v: String| if v.trim().is_empty() { None } else { Some(v) };
    let listen = listen
        .or_else(|| env("LISTEN_ADDR").and_then(non_empty))
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    if listen.trim().is_empty() {
        return Err("listen address must not be empty".to_string());
    }
    Ok(Command::Run(Config {
        listen,
        database_url: env("DATABASE_URL").and_then(non_empty),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_args(args.iter().map(|s| s.to_string()), move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env).unwrap() {
            Command::Run(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            config(&[], &[]),
            Config {
                listen: "127.0.0.1:8080".into(),
                database_url: None
            }
        );
    }

    #[test]
    fn precedence() {
        let env = [
            ("LISTEN_ADDR", "0.0.0.0:1"),
            ("DATABASE_URL", "postgres://u@h/d"),
        ];
        assert_eq!(config(&[], &env).listen, "0.0.0.0:1");
        assert_eq!(config(&["--listen", "[::1]:0"], &env).listen, "[::1]:0");
        assert_eq!(config(&["-l", "x:1"], &env).listen, "x:1");
        assert_eq!(config(&["--listen=y:2"], &env).listen, "y:2");
        assert_eq!(
            config(&[], &env).database_url.as_deref(),
            Some("postgres://u@h/d")
        );
        assert_eq!(
            config(&[], &[("LISTEN_ADDR", ""), ("DATABASE_URL", " ")]),
            config(&[], &[])
        );
    }

    #[test]
    fn help_version_and_errors() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-V"], &[]), Ok(Command::Version));
        assert_eq!(
            run(&["--listen"], &[]),
            Err("--listen needs a value".into())
        );
        assert_eq!(
            run(&["--listen="], &[]),
            Err("listen address must not be empty".into())
        );
        assert_eq!(
            run(&["serve"], &[]),
            Err("unexpected argument 'serve'".into())
        );
    }
}
