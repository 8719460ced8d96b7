//! Reading the variables as the SDK's environment variables specification says: numbers that
//! cannot be used are warned about and ignored, a timeout of 0 is no limit.

use std::time::Duration;

/// The whole number `value` gives for the variable `name`; `None` when it is unset or empty, or
/// when it is not a whole number of at least `least`, which is warned about. "For variables
/// accepting a numeric value, if the user provides a value the implementation cannot parse, the
/// implementation SHOULD generate a warning and gracefully ignore the setting, i.e., treat them
/// as not set" (SDK environment variables, "Numeric": a MUST for new implementations).
pub(crate) fn whole_number(name: &str, value: Option<String>, least: u64) -> Option<u64> {
    let value = value.filter(|v| !v.trim().is_empty())?;
    match value.trim().parse::<u64>() {
        Ok(n) if n >= least => Some(n),
        _ => {
            tracing::warn!(
                variable = name,
                value = %value,
                "not a whole number{}: ignored, the default is used",
                if least > 0 { " above 0" } else { "" }
            );
            None
        }
    }
}

/// A timeout of `ms` milliseconds, where 0 means no limit (as the configuration schema's
/// `timeout` and `export_timeout` say: "A value of 0 indicates no limit (infinity)").
pub(crate) fn timeout_millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// The lookup of the variables `vars` alone: the tests' environment, never the process's.
#[cfg(test)]
pub(crate) fn lookup_in(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars: Vec<(String, String)> = (vars.iter())
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| (vars.iter().find(|(n, _)| n == name)).map(|(_, value)| value.clone())
}
