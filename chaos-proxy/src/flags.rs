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
    pub proxy_metrics: bool,
    pub runtime_metrics: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            host: "localhost".to_owned(),
            port: 8474,
            config: None,
            seed: None,
            proxy_metrics: false,
            runtime_metrics: false,
        }
    }
}

pub const USAGE: &str = "usage: chaos-proxy [-host localhost] [-port 8474] [-config FILE] [-seed N] [-proxy-metrics] [-runtime-metrics] [-version]
  -host             interface the API listens on (default localhost; 0.0.0.0 in containers)
  -port             port the API listens on (default 8474; 0 picks a free port)
  -config           JSON file of proxies to create at startup, as for POST /populate
  -seed             seed for toxicity and jitter draws, for repeatable runs
  -proxy-metrics    serve toxiproxy_proxy_* byte counters on GET /metrics
  -runtime-metrics  serve process_* metrics on GET /metrics
  -version          print the version and exit";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Flags),
    Help,
    Version,
}

/// Go's boolean flags: `-flag` alone is true; a value needs `=`, as in `-flag=false`.
fn bool_value(name: &str, inline: Option<&str>) -> Result<bool, String> {
    match inline {
        None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(format!("invalid boolean value {other:?} for -{name}: parse error")),
    }
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
        match name {
            "proxy-metrics" => {
                flags.proxy_metrics = bool_value(name, inline.as_deref())?;
                continue;
            }
            "runtime-metrics" => {
                flags.runtime_metrics = bool_value(name, inline.as_deref())?;
                continue;
            }
            "version" => {
                if bool_value(name, inline.as_deref())? {
                    return Ok(Parsed::Version);
                }
                continue;
            }
            _ => {}
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
    fn metrics_flags_are_go_booleans() {
        let Ok(Parsed::Run(flags)) = run(&["-proxy-metrics", "-runtime-metrics=false"]) else { panic!() };
        assert!(flags.proxy_metrics);
        assert!(!flags.runtime_metrics);
        assert_eq!(run(&["-version"]), Ok(Parsed::Version));
        assert!(run(&["-proxy-metrics=maybe"]).unwrap_err().contains("invalid boolean value"));
    }

    #[test]
    fn help_is_recognised() {
        assert_eq!(run(&["-help"]), Ok(Parsed::Help));
        assert_eq!(run(&["-h"]), Ok(Parsed::Help));
    }
}
