//! `loadgen`: the mix of `loadgen`'s library sent at a fixed rate, a progress line every second
//! and a summary at the end; exit 1 on any unexpected answer.
//!
//! ```sh
//! cargo run --release -p loadgen -- --target http://127.0.0.1:3000 --rate 50 --duration 60s
//! ```
//!
//! `--target` is the server (`cargo run -p checkout-server`, or compose's on `http://localhost:3000`)
//! or `trunk serve`'s page (`http://127.0.0.1:8080`), which proxies `/api`. Not the compose page:
//! its nginx limits each client address (README, "The public edge").

// An application (or its tests' support), not a library for others: an item is documented where
// the doc says more than its name. The library crates (otel-browser, otlp-wire, trace-context,
// checkout-api) keep the workspace's `missing_docs`.
#![allow(missing_docs)]

use std::{process::ExitCode, time::Duration};

use loadgen::{Options, run};

const USAGE: &str = "usage: loadgen [--target URL] [--rate REQUESTS_PER_SECOND] \
                     [--duration SECONDSs] [--catalog-percent 0-100]";

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        target: "http://127.0.0.1:3000".to_owned(),
        rate: 50.0,
        duration: Duration::from_secs(60),
        progress: true,
        catalog_percent: 40,
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--target" => options.target = value.trim_end_matches('/').to_owned(),
            "--rate" => {
                options.rate = value
                    .parse()
                    .ok()
                    .filter(|r: &f64| *r > 0.0)
                    .ok_or_else(|| format!("--rate {value}: a positive number\n{USAGE}"))?;
            }
            "--catalog-percent" => {
                options.catalog_percent = value
                    .parse()
                    .ok()
                    .filter(|p: &u32| *p <= 100)
                    .ok_or_else(|| format!("--catalog-percent {value}: 0 to 100\n{USAGE}"))?;
            }
            "--duration" => {
                let seconds = value.trim_end_matches('s');
                options.duration = seconds
                    .parse()
                    .map(Duration::from_secs)
                    .map_err(|_| format!("--duration {value}: whole seconds, e.g. 60s\n{USAGE}"))?;
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "loadgen: {} req/s for {:?} against {}",
        options.rate, options.duration, options.target
    );
    let report = run(&options).await;
    println!("summary: {}", report.line());
    if report.unexpected.is_empty() {
        println!(
            "no unexpected answers; {} traces started",
            report.requests.len()
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "{} unexpected answers, first ones:",
            report.unexpected.len()
        );
        for why in report.unexpected.iter().take(10) {
            println!("  {why}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn options_are_read_and_bad_ones_refused_with_the_usage() {
        let options = parse(args(&[
            "--target",
            "http://localhost:8080/",
            "--rate",
            "20",
            "--duration",
            "5s",
            "--catalog-percent",
            "0",
        ]))
        .expect("valid");
        assert_eq!(options.catalog_percent, 0);
        assert_eq!(options.target, "http://localhost:8080");
        assert_eq!(options.rate, 20.0);
        assert_eq!(options.duration, Duration::from_secs(5));
        for bad in [
            &["--rate", "0"][..],
            &["--duration", "soon"],
            &["--rate"],
            &["--catalog-percent", "101"],
            &["--burst", "1"],
        ] {
            let error = parse(args(bad)).expect_err("refused");
            assert!(error.contains("usage:"), "{error}");
        }
    }
}
