//! Toxiproxy's command line, in Go's flag syntax: `-port 8474`, `-port=8474`, `--port 8474`.
//!
//! clap cannot parse single-dash long flags, and Toxiproxy's users and images pass exactly these
//! forms, so this small parser follows Go's `flag` package instead.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    pub host: String,
    pub port: u16,
    pub config: Option<PathBuf>,
    pub seed: Option<u64>,
}

impl Default for Flags {
    fn default() -> Self {
        Self { host: "localhost".to_owned(), port: 8474, config: None, seed: None }
    }
}

pub const USAGE: &str = "usage: chaos-proxy [-host localhost] [-port 8474] [-config FILE] [-seed N]
  -host    interface the API listens on (default localhost; 0.0.0.0 in containers)
  -port    port the API listens on (default 8474; 0 picks a free port)
  -config  JSON file of proxies to create at startup, as for POST /populate
  -seed    seed for toxicity and jitter draws, for repeatable runs";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Flags),
    Help,
}

/// Parses the arguments after the program name. Errors name the flag and the problem.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut flags = Flags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|f| !f.is_empty()) else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        if matches!(name, "h" | "help") {
            return Ok(Parsed::Help);
        }
        let value = match inline {
            Some(value) => value,
            None => args.next().ok_or_else(|| format!("flag needs an argument: -{name}"))?,
        };
        match name {
            "host" => flags.host = value,
            "port" => {
                flags.port = value
                    .parse()
                    .map_err(|_| format!("invalid value {value:?} for flag -port: expected a TCP port"))?;
            }
            "config" => flags.config = Some(PathBuf::from(value)),
            "seed" => {
                flags.seed = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value:?} for flag -seed: expected a whole number"))?,
                );
            }
            _ => return Err(format!("flag provided but not defined: -{name}")),
        }
    }
    Ok(Parsed::Run(flags))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn no_flags_give_toxiproxy_defaults() {
        assert_eq!(run(&[]), Ok(Parsed::Run(Flags::default())));
    }

    #[rstest]
    #[case::single_dash_and_space(&["-host", "0.0.0.0", "-port", "9000"])]
    #[case::single_dash_and_equals(&["-host=0.0.0.0", "-port=9000"])]
    #[case::double_dash(&["--host", "0.0.0.0", "--port=9000"])]
    fn every_go_flag_form_is_understood(#[case] args: &[&str]) {
        let Ok(Parsed::Run(flags)) = run(args) else { panic!("{args:?} should parse") };
        assert_eq!((flags.host.as_str(), flags.port), ("0.0.0.0", 9000));
    }

    #[test]
    fn config_and_seed_are_read() {
        let Ok(Parsed::Run(flags)) = run(&["-config", "proxies.json", "-seed", "42"]) else { panic!() };
        assert_eq!(flags.config, Some(PathBuf::from("proxies.json")));
        assert_eq!(flags.seed, Some(42));
    }

    #[rstest]
    #[case::unknown(&["-verbose", "1"], "flag provided but not defined: -verbose")]
    #[case::missing_value(&["-port"], "flag needs an argument: -port")]
    #[case::bad_port(&["-port", "http"], "invalid value \"http\" for flag -port")]
    #[case::port_too_big(&["-port=70000"], "invalid value \"70000\" for flag -port")]
    #[case::bad_seed(&["-seed", "x"], "invalid value \"x\" for flag -seed")]
    #[case::positional(&["extra"], "unexpected argument \"extra\"")]
    fn a_bad_command_line_names_the_flag(#[case] args: &[&str], #[case] expected: &str) {
        let error = run(args).unwrap_err();
        assert!(error.starts_with(expected), "{error}");
    }

    #[test]
    fn help_is_recognised() {
        assert_eq!(run(&["-help"]), Ok(Parsed::Help));
        assert_eq!(run(&["-h"]), Ok(Parsed::Help));
    }
}
